/* sea firmware: windowing of a PCM stream (see sea_stream.h). Written by sea. */
#include "sea_stream.h"

#include <string.h>

#include "sea.h"

/* Fill dst[0..n) from the stream, zero-padding after its end; returns the real samples read. */
static size_t sea_fill(sea_read_fn read, void *ctx, int16_t *dst, size_t n, int *eof)
{
    size_t got = 0;
    while (got < n && !*eof) {
        const size_t r = read(ctx, dst + got, n - got);
        if (r == 0)
            *eof = 1;
        got += r;
    }
    if (got < n)
        memset(dst + got, 0, (n - got) * sizeof(int16_t));
    return got;
}

long sea_stream_windows(sea_read_fn read, void *read_ctx, long hop, int centered, int16_t *window,
                        sea_window_fn on_window, void *window_ctx)
{
    const long w = SEA_WINDOW_SAMPLES;
    const long offset = centered ? w / 2 : 0;
    long start = -offset; /* stream index of window[0] */
    long n_read = 0;      /* real samples read so far */
    long i = 0;
    int eof = 0;
    if (hop < 1)
        return -1;
    memset(window, 0, (size_t)offset * sizeof(int16_t));
    n_read += (long)sea_fill(read, read_ctx, window + offset, (size_t)(w - offset), &eof);
    for (;;) {
        if (on_window(window_ctx, window, (size_t)w, i) != 0)
            return -2;
        ++i;
        start += hop;
        if (hop < w) {
            memmove(window, window + hop, (size_t)(w - hop) * sizeof(int16_t));
            n_read += (long)sea_fill(read, read_ctx, window + (w - hop), (size_t)hop, &eof);
        } else {
            /* skip the samples between the windows, then read a whole window */
            long skip = hop - w;
            while (skip > 0 && !eof) {
                const long chunk = skip < w ? skip : w;
                const long got = (long)sea_fill(read, read_ctx, window, (size_t)chunk, &eof);
                n_read += got;
                skip -= chunk;
            }
            n_read += (long)sea_fill(read, read_ctx, window, (size_t)w, &eof);
        }
        /* the stream index start + w - hop must exist; n_read is exact once eof is set */
        if (eof && start + w - hop >= n_read)
            break;
    }
    return i;
}
