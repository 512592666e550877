/* sea firmware: Cortex-M example (semihosting I/O, SysTick instruction counting). Written by sea.
 *
 * Command line (semihosting): sea IN.pcm OUT.bin [HOP [FEATURES.bin]]
 * Reads mono s16le PCM, frames it like sea_host (centred windows every HOP samples), writes SEA_EMBEDDING_DIM
 * int8 per window to OUT and, when FEATURES is given, each window's int8 network input. At the end it prints one
 * line "SEA_STATS key=value ..." on the semihosting console: SysTick ticks spent in the front-end and in each
 * layer, a calibration (ticks for a loop of a known instruction count) and the stack high-water mark.
 * Under QEMU with -icount shift=0 every instruction advances the virtual clock by 1 ns, so ticks count
 * instructions. */
#include <string.h>

#include "sea.h"
#include "sea_stream.h"
#include "semihost.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

uint32_t sea_stack_used(void);

static volatile uint32_t sea_systick_wraps;

void sea_systick_handler(void)
{
    ++sea_systick_wraps;
}

static uint64_t sea_ticks(void)
{
    uint32_t w, v;
    do {
        w = sea_systick_wraps;
        v = SYST_CVR;
    } while (w != sea_systick_wraps);
    return ((uint64_t)w << 24) + (0xFFFFFFu - v);
}

static uint64_t sea_stage_ticks[SEA_N_LAYERS + 2];
static uint64_t sea_last_tick;
static int sea_last_stage = -1;

void sea_profile_mark(int stage)
{
    const uint64_t t = sea_ticks();
    if (sea_last_stage >= 0)
        sea_stage_ticks[sea_last_stage] += t - sea_last_tick;
    sea_last_stage = stage <= SEA_N_LAYERS ? stage : -1;
    sea_last_tick = t;
}

typedef struct {
    int in, out, features;
    int failed;
} m_ctx;

static size_t m_read(void *ctx, int16_t *dst, size_t n)
{
    m_ctx *c = (m_ctx *)ctx;
    const size_t got = sh_read(c->in, dst, n * sizeof(int16_t)); /* Cortex-M is little-endian, like the file */
    return got / sizeof(int16_t);
}

static int m_window(void *ctx, const int16_t *window, size_t n, long index)
{
    m_ctx *c = (m_ctx *)ctx;
    int8_t emb[SEA_EMBEDDING_DIM];
    (void)index;
    if (sea_embed(window, n, emb) != SEA_OK || sh_write(c->out, emb, SEA_EMBEDDING_DIM) != SEA_EMBEDDING_DIM)
        return c->failed = 1;
    if (c->features >= 0) {
        static int8_t feat[SEA_INPUT_SIZE];
        if (sea_frontend(window, n, feat) != SEA_OK || sh_write(c->features, feat, SEA_INPUT_SIZE) != SEA_INPUT_SIZE)
            return c->failed = 1;
    }
    return 0;
}

static char *m_utoa(uint64_t v, char *p)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *m_put(char *p, const char *key, uint64_t v)
{
    *p++ = ' ';
    while (*key)
        *p++ = *key++;
    *p++ = '=';
    return m_utoa(v, p);
}

/* 2 instructions (subs, bne) per iteration: a known instruction count for the tick calibration */
static uint64_t m_calibrate(uint32_t iterations)
{
    const uint64_t t0 = sea_ticks();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
    return sea_ticks() - t0;
}

static char *m_next_arg(char **s)
{
    char *a;
    while (**s == ' ')
        ++*s;
    if (!**s)
        return 0;
    a = *s;
    while (**s && **s != ' ')
        ++*s;
    if (**s)
        *(*s)++ = '\0';
    return a;
}

static long m_atol(const char *s)
{
    long v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return v;
}

int main(void)
{
    static int16_t window[SEA_WINDOW_SAMPLES];
    static char cmd[1024], line[64 + 24 * (SEA_N_LAYERS + 8)];
    char *s = cmd, *in_path, *out_path, *hop_arg, *feat_path, *p;
    m_ctx c;
    long hop, n;
    uint64_t cal;
    int i;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
    if (sh_cmdline(cmd, sizeof cmd) != 0) {
        sh_write0("sea: no semihosting command line\n");
        return 2;
    }
    (void)m_next_arg(&s); /* program name */
    in_path = m_next_arg(&s);
    out_path = m_next_arg(&s);
    hop_arg = m_next_arg(&s);
    feat_path = m_next_arg(&s);
    if (!in_path || !out_path) {
        sh_write0("usage: sea IN.pcm OUT.bin [HOP [FEATURES.bin]]\n");
        return 2;
    }
    hop = hop_arg ? m_atol(hop_arg) : SEA_WINDOW_SAMPLES;
    c.in = sh_open(in_path, SH_MODE_RB);
    c.out = sh_open(out_path, SH_MODE_WB);
    c.features = feat_path ? sh_open(feat_path, SH_MODE_WB) : -1;
    c.failed = 0;
    if (c.in < 0 || c.out < 0 || (feat_path && c.features < 0)) {
        sh_write0("sea: cannot open a file\n");
        return 1;
    }
    cal = m_calibrate(1000000u);
    n = sea_stream_windows(m_read, &c, hop, 1, window, m_window, &c);
    sh_close(c.in);
    sh_close(c.out);
    if (c.features >= 0)
        sh_close(c.features);
    if (n < 0 || c.failed) {
        sh_write0("sea: embedding failed\n");
        return 1;
    }
    p = line;
    memcpy(p, "SEA_STATS", 9);
    p += 9;
    p = m_put(p, "windows", (uint64_t)n);
    p = m_put(p, "calib_instructions", 2000000u);
    p = m_put(p, "calib_ticks", cal);
    p = m_put(p, "stack_bytes", sea_stack_used());
    p = m_put(p, "frontend_ticks", sea_stage_ticks[0]);
    for (i = 1; i <= SEA_N_LAYERS; ++i) {
        char key[12] = "layer";
        key[5] = (char)('0' + (i - 1) / 100 % 10);
        key[6] = (char)('0' + (i - 1) / 10 % 10);
        key[7] = (char)('0' + (i - 1) % 10);
        key[8] = '\0';
        p = m_put(p, key, sea_stage_ticks[i]);
    }
    *p++ = '\n';
    *p = '\0';
    sh_write0(line);
    return 0;
}
