/* sea firmware: host example. Written by sea.
 *
 *   sea_host [-f] [-r] [-n] [-H HOP] [-x FEATURES] IN OUT
 *
 * IN: mono s16le PCM at SEA_SAMPLE_RATE Hz ("-": stdin). It is cut into centred windows every HOP samples (default
 * SEA_WINDOW_SAMPLES, i.e. a 1-s hop), like sea's Pi runner, or taken as consecutive whole windows with -r.
 * OUT ("-": stdout): one row of SEA_EMBEDDING_DIM values per window, int8 (default) or float32 little-endian (-f,
 * dequantised with SEA_OUTPUT_SCALE / SEA_OUTPUT_ZERO_POINT). -x also writes each window's int8 features
 * (SEA_INPUT_SIZE bytes: the network input). -n: no half-window offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sea.h"
#include "sea_stream.h"

typedef struct {
    FILE *in, *out, *features;
    int as_float;
} host_ctx;

static size_t host_read(void *ctx, int16_t *dst, size_t n)
{
    host_ctx *c = (host_ctx *)ctx;
    unsigned char buf[512];
    size_t done = 0;
    while (done < n) {
        const size_t want = (n - done) * 2 < sizeof buf ? (n - done) * 2 : sizeof buf;
        const size_t got = fread(buf, 1, want, c->in);
        size_t k;
        for (k = 0; k + 1 < got; k += 2) /* little-endian whatever the host */
            dst[done++] = (int16_t)(uint16_t)(buf[k] | (buf[k + 1] << 8));
        if (got < want)
            break;
    }
    return done;
}

static int host_window(void *ctx, const int16_t *window, size_t n, long index)
{
    host_ctx *c = (host_ctx *)ctx;
    int8_t emb[SEA_EMBEDDING_DIM];
    int j;
    (void)index;
    if (sea_embed(window, n, emb) != SEA_OK)
        return 1;
    if (c->as_float) {
        for (j = 0; j < SEA_EMBEDDING_DIM; ++j) {
            const float v = SEA_DEQUANTIZE(emb[j]);
            unsigned char b[4];
            uint32_t u;
            memcpy(&u, &v, 4);
            b[0] = (unsigned char)u;
            b[1] = (unsigned char)(u >> 8);
            b[2] = (unsigned char)(u >> 16);
            b[3] = (unsigned char)(u >> 24);
            if (fwrite(b, 1, 4, c->out) != 4)
                return 1;
        }
    } else if (fwrite(emb, 1, SEA_EMBEDDING_DIM, c->out) != SEA_EMBEDDING_DIM) {
        return 1;
    }
    if (c->features) {
        static int8_t feat[SEA_INPUT_SIZE];
        if (sea_frontend(window, n, feat) != SEA_OK || fwrite(feat, 1, SEA_INPUT_SIZE, c->features) != SEA_INPUT_SIZE)
            return 1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: sea_host [-f] [-r] [-n] [-H HOP_SAMPLES] [-x FEATURES] IN.pcm|- OUT|-\n");
    return 2;
}

int main(int argc, char **argv)
{
    static int16_t window[SEA_WINDOW_SAMPLES];
    host_ctx c;
    long hop = SEA_WINDOW_SAMPLES, n;
    int centered = 1, raw = 0, i;
    const char *in_path = 0, *out_path = 0, *feat_path = 0;
    memset(&c, 0, sizeof c);
    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "-f") == 0)
            c.as_float = 1;
        else if (strcmp(argv[i], "-r") == 0)
            raw = 1;
        else if (strcmp(argv[i], "-n") == 0)
            centered = 0;
        else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc)
            hop = strtol(argv[++i], 0, 10);
        else if (strcmp(argv[i], "-x") == 0 && i + 1 < argc)
            feat_path = argv[++i];
        else if (!in_path)
            in_path = argv[i];
        else if (!out_path)
            out_path = argv[i];
        else
            return usage();
    }
    if (!in_path || !out_path || hop < 1)
        return usage();
    c.in = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "rb");
    c.out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "wb");
    c.features = feat_path ? fopen(feat_path, "wb") : 0;
    if (!c.in || !c.out || (feat_path && !c.features)) {
        fprintf(stderr, "sea_host: cannot open %s\n", !c.in ? in_path : (!c.out ? out_path : feat_path));
        return 1;
    }
    if (raw) {
        /* consecutive whole windows; a partial last window is zero-padded */
        n = 0;
        for (;;) {
            const size_t got = host_read(&c, window, SEA_WINDOW_SAMPLES);
            if (got == 0)
                break;
            if (got < SEA_WINDOW_SAMPLES)
                memset(window + got, 0, (SEA_WINDOW_SAMPLES - got) * sizeof(int16_t));
            if (host_window(&c, window, SEA_WINDOW_SAMPLES, n) != 0) {
                n = -2;
                break;
            }
            ++n;
        }
    } else {
        n = sea_stream_windows(host_read, &c, hop, centered, window, host_window, &c);
    }
    if (c.in != stdin)
        fclose(c.in);
    if (c.features)
        fclose(c.features);
    if ((c.out != stdout && fclose(c.out) != 0) || n < 0) {
        fprintf(stderr, "sea_host: failed (%ld)\n", n);
        return 1;
    }
    fprintf(stderr, "sea_host: %ld windows\n", n);
    return 0;
}
