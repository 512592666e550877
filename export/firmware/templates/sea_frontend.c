/* sea firmware: the student log-mel front-end in float32 C, a twin of sea.frontend.logmel_numpy.
 * Written by sea; no third-party source. Its own log and explicit fmaf keep host and Cortex-M bit-identical.
 *
 * For each frame t (SEA_FE_N_FRAMES of them, hop SEA_FE_HOP, zero padding SEA_FE_PAD_LEFT before the window):
 *   1. the SEA_FE_N_DFT samples times the periodic Hann window (scaled by 2^-16: int16 PCM / 32768, and 1/2
 *      for the real-FFT split below), packed as SEA_FE_N_DFT / 2 complex values in bit-reversed order;
 *   2. a radix-2/4 complex FFT of SEA_FE_N_DFT / 2 points, then the real-FFT split to the power |X[k]|^2 of
 *      bins 0 .. SEA_FE_N_DFT / 2 (frames over the window's edge are zero-padded copies);
 *   3. the sparse mel filterbank (float32 weights of sea.frontend.mel_filterbank_numpy);
 * then over the whole window: D = db_scale / ln 10 * max(power_melgram / 2 * ln(M), ln(amin)),
 * D -= max(D), D = max(D, -top_db), and q = clamp(round_half_even(D / scale) + zero_point, -128, 127). */
#include "sea_frontend.h"

#include <math.h>

#include "sea_frontend_tables.h"

/* ln(x) for finite x > 0 to about 1 ulp: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, odd series to s^11. */
static float sea_logf(float x)
{
    union {
        float f;
        uint32_t u;
    } v;
    int32_t e;
    float m, s, s2, r;
    v.f = x;
    if (v.u < 0x00800000u) { /* subnormal: scale up by 2^23 first */
        v.f = x * 8388608.0f;
        e = (int32_t)(v.u >> 23) - 127 - 23;
    } else {
        e = (int32_t)(v.u >> 23) - 127;
    }
    v.u = (v.u & 0x007FFFFFu) | 0x3F800000u; /* m in [1, 2) */
    m = v.f;
    if (m > 1.41421356f) {
        m *= 0.5f;
        e += 1;
    }
    s = (m - 1.0f) / (m + 1.0f);
    s2 = s * s;
    r = s2 * (1.0f / 11.0f);
    r = s2 * (1.0f / 9.0f + r);
    r = s2 * (1.0f / 7.0f + r);
    r = s2 * (1.0f / 5.0f + r);
    r = s2 * (1.0f / 3.0f + r);
    r = 2.0f * s + 2.0f * s * r;
    /* ln 2 split so that e * LN2_HI is exact */
    return ((float)e * 6.9313812256e-1f + r) + (float)e * 9.0580006145e-6f;
}

/* Round half to even, as numpy's np.round (|x| < 2^22 here: the values are clamped before). */
static int32_t sea_round_even(float x)
{
    const float t = x < 0.0f ? -x : x;
    int32_t n = (int32_t)t; /* truncation */
    const float f = t - (float)n;
    if (f > 0.5f || (f == 0.5f && (n & 1)))
        n += 1;
    return x < 0.0f ? -n : n;
}

/* a * b + c rounded once (C99 fmaf: one VFMA on Cortex-M4F/M7, libm's correctly rounded fmaf on a host), so that
 * every target computes the same bits. */
#define SEA_FMA(a, b, c) fmaf((a), (b), (c))

#if defined(__GNUC__)
#define SEA_FE_INLINE static inline __attribute__((always_inline))
#else
#define SEA_FE_INLINE static inline
#endif

/* Window one frame (SEA_FE_N_DFT int16 samples x), pack it as SEA_FE_M complex values in bit-reversed order and
 * apply the first radix-2 stage (twiddle 1), in one pass: complex inputs bitrev[2k] and bitrev[2k + 1] =
 * bitrev[2k] + M / 2 are the real sample pairs (n, n + 1) and (n + M, n + M + 1), n = sea_fe_load_idx[k];
 * sea_fe_window_perm holds the four window values in that order. */
static void sea_fft_load(const int16_t *x, float *z)
{
    const float *w = sea_fe_window_perm;
    int k;
    for (k = 0; k < SEA_FE_M / 2; ++k, w += 4, z += 4) {
        const int n = sea_fe_load_idx[k];
        const float ar = (float)x[n] * w[0], ai = (float)x[n + 1] * w[1];
        const float br = (float)x[n + SEA_FE_M] * w[2], bi = (float)x[n + SEA_FE_M + 1] * w[3];
        z[0] = ar + br;
        z[1] = ai + bi;
        z[2] = ar - br;
        z[3] = ai - bi;
    }
}

/* One radix-4 stage (two radix-2 stages, halves h and 2h, at once) of the in-place FFT on bit-reversed input.
 * With W = W_{4h}^j, the h-stage pairs (p0, p1) and (p2, p3) use W^2 and the 2h-stage pairs (p0, p2), (p1, p3)
 * use W and -i W: multiply p1, p2, p3 by W^2, W, W^3, then a twiddle-free 4-point butterfly. `half` is a constant
 * at every call, so the offsets of p1..p3 are immediates; tw holds (W, W^2, W^3) for j = 1 .. half - 1. */
SEA_FE_INLINE void sea_fft_r4(float *z, const int half, const float *tw)
{
    int j, k;
    for (k = 0; k < SEA_FE_M; k += 4 * half) { /* j = 0: no twiddles */
        float *p = z + 2 * k;
        const float a0r = p[0], a0i = p[1], a1r = p[2 * half], a1i = p[2 * half + 1];
        const float a2r = p[4 * half], a2i = p[4 * half + 1], a3r = p[6 * half], a3i = p[6 * half + 1];
        const float s0r = a0r + a1r, s0i = a0i + a1i, d0r = a0r - a1r, d0i = a0i - a1i;
        const float s1r = a2r + a3r, s1i = a2i + a3i, d1r = a2r - a3r, d1i = a2i - a3i;
        p[0] = s0r + s1r;
        p[1] = s0i + s1i;
        p[4 * half] = s0r - s1r;
        p[4 * half + 1] = s0i - s1i;
        p[2 * half] = d0r + d1i; /* d0 - i d1 */
        p[2 * half + 1] = d0i - d1r;
        p[6 * half] = d0r - d1i; /* d0 + i d1 */
        p[6 * half + 1] = d0i + d1r;
    }
    for (j = 1; j < half; ++j, tw += 6) {
        const float w1r = tw[0], w1i = tw[1], w2r = tw[2], w2i = tw[3], w3r = tw[4], w3i = tw[5];
        for (k = j; k < SEA_FE_M; k += 4 * half) {
            float *p = z + 2 * k;
            const float b1r = p[2 * half], b1i = p[2 * half + 1], b2r = p[4 * half], b2i = p[4 * half + 1];
            const float b3r = p[6 * half], b3i = p[6 * half + 1];
            const float a0r = p[0], a0i = p[1];
            const float a1r = SEA_FMA(-b1i, w2i, b1r * w2r), a1i = SEA_FMA(b1r, w2i, b1i * w2r);
            const float a2r = SEA_FMA(-b2i, w1i, b2r * w1r), a2i = SEA_FMA(b2r, w1i, b2i * w1r);
            const float a3r = SEA_FMA(-b3i, w3i, b3r * w3r), a3i = SEA_FMA(b3r, w3i, b3i * w3r);
            const float s0r = a0r + a1r, s0i = a0i + a1i, d0r = a0r - a1r, d0i = a0i - a1i;
            const float s1r = a2r + a3r, s1i = a2i + a3i, d1r = a2r - a3r, d1i = a2i - a3i;
            p[0] = s0r + s1r;
            p[1] = s0i + s1i;
            p[4 * half] = s0r - s1r;
            p[4 * half + 1] = s0i - s1i;
            p[2 * half] = d0r + d1i;
            p[2 * half + 1] = d0i - d1r;
            p[6 * half] = d0r - d1i;
            p[6 * half + 1] = d0i + d1r;
        }
    }
}

/* The stages after sea_fft_load: for even log2(M) one radix-2 stage (half 2: twiddles 1 and -i) first, then the
 * radix-4 stages listed by SEA_FE_RADIX4_STAGES (generated with the tables). */
static void sea_fft_stages(float *z)
{
#if (SEA_FE_LOG2M & 1) == 0
    int k;
    for (k = 0; k < SEA_FE_M; k += 4) {
        float *p = z + 2 * k;
        const float ar = p[0], ai = p[1], br = p[4], bi = p[5];
        const float cr = p[2], ci = p[3], dr = p[7], di = -p[6]; /* -i * (p[6] + i p[7]) */
        p[0] = ar + br;
        p[1] = ai + bi;
        p[4] = ar - br;
        p[5] = ai - bi;
        p[2] = cr + dr;
        p[3] = ci + di;
        p[6] = cr - dr;
        p[7] = ci - di;
    }
#endif
#define SEA_FE_R4(h, offset) sea_fft_r4(z, (h), sea_fe_stage_twiddle + (offset));
    SEA_FE_RADIX4_STAGES(SEA_FE_R4)
#undef SEA_FE_R4
}

int sea_frontend_run(const int16_t *pcm, size_t n_samples, int8_t *features, float *scratch)
{
    float *z = scratch;                                  /* SEA_FE_N_DFT floats */
    float *power = z + SEA_FE_N_DFT;                     /* SEA_FE_M + 1 floats (+1 keeps 8-byte alignment) */
    float *logmel = power + SEA_FE_M + 2;                /* SEA_FE_N_MELS * SEA_FE_N_FRAMES floats, [mel][frame] */
    int16_t *edge = (int16_t *)(logmel + SEA_FE_N_MELS * SEA_FE_N_FRAMES); /* SEA_FE_N_DFT samples */
    const int32_t n = (int32_t)n_samples;
    float dmax = -3.0e38f;
    int t, k, m;
    if (pcm == 0 || features == 0 || n_samples > (size_t)SEA_FE_WINDOW_LENGTH)
        return -1;
    for (t = 0; t < SEA_FE_N_FRAMES; ++t) {
        const int32_t start = t * SEA_FE_HOP - SEA_FE_PAD_LEFT;
        const int16_t *x = pcm + start;
        if (start < 0 || start + SEA_FE_N_DFT > n) {
            /* a frame over the window's edge: a zero-padded copy */
            for (k = 0; k < SEA_FE_N_DFT; ++k)
                edge[k] = (start + k >= 0 && start + k < n) ? pcm[start + k] : 0;
            x = edge;
        }
        /* 1-2. window, bit-reversed packing, FFT */
        sea_fft_load(x, z);
        sea_fft_stages(z);
        /* 3. real split: X[k] = E + W^k O, X[M - k] = conj(E - W^k O) with E = Z[k] + conj(Z[M - k]) and
         * O = -i (Z[k] - conj(Z[M - k])) (the 1/2 factors are in the window); power |X|^2 */
        power[0] = (z[0] + z[1]) * (z[0] + z[1]);
        power[SEA_FE_M] = (z[0] - z[1]) * (z[0] - z[1]);
        for (k = 1; k <= SEA_FE_M / 2; ++k) {
            const float zr = z[2 * k], zi = z[2 * k + 1];
            const float cr = z[2 * (SEA_FE_M - k)], ci = -z[2 * (SEA_FE_M - k) + 1];
            const float er = zr + cr, ei = zi + ci;
            const float or_ = zi - ci, oi = cr - zr;
            const float wr = sea_fe_twiddle[2 * k], wi = sea_fe_twiddle[2 * k + 1];
            const float tr = SEA_FMA(-wi, oi, wr * or_), ti = SEA_FMA(wi, or_, wr * oi);
            const float xr = er + tr, xi = ei + ti, yr = er - tr, yi = ei - ti;
            power[k] = SEA_FMA(xr, xr, xi * xi);
            power[SEA_FE_M - k] = SEA_FMA(yr, yr, yi * yi);
        }
        /* 4. mel bands (sparse rows) */
        for (m = 0; m < SEA_FE_N_MELS; ++m) {
            const float *w = sea_fe_mel_weights + sea_fe_mel_offset[m];
            const float *p = power + sea_fe_mel_start[m];
            const int len = sea_fe_mel_length[m];
            float acc = 0.0f;
            for (k = 0; k + 1 < len; k += 2) /* in order, two per iteration */
                acc = SEA_FMA(w[k + 1], p[k + 1], SEA_FMA(w[k], p[k], acc));
            if (k < len)
                acc = SEA_FMA(w[k], p[k], acc);
            logmel[m * SEA_FE_N_FRAMES + t] = acc;
        }
    }
    /* 5. dB, window maximum */
    for (k = 0; k < SEA_FE_N_MELS * SEA_FE_N_FRAMES; ++k) {
        const float mp = logmel[k];
        float h = mp > 0.0f ? SEA_FE_HALF_POWER * sea_logf(mp) : SEA_FE_LN_AMIN;
        if (h < SEA_FE_LN_AMIN)
            h = SEA_FE_LN_AMIN;
        h *= SEA_FE_DB_PER_NEPER;
        logmel[k] = h;
        if (h > dmax)
            dmax = h;
    }
    /* 6. normalise, floor, quantise */
    for (k = 0; k < SEA_FE_N_MELS * SEA_FE_N_FRAMES; ++k) {
        float d = logmel[k] - dmax;
        int32_t q;
        if (d < -SEA_FE_TOP_DB)
            d = -SEA_FE_TOP_DB;
        q = sea_round_even(d / SEA_FE_INPUT_SCALE) + SEA_FE_INPUT_ZERO_POINT;
        features[k] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
    return 0;
}
