/* sea firmware: the student log-mel front-end in float32 C, a twin of sea.students.frontend_numpy.logmel_numpy.
 * Written by sea; no third-party source. Its own log and explicit fmaf keep host and Cortex-M bit-identical.
 *
 * For each frame t (SEA_FE_N_FRAMES of them, hop SEA_FE_HOP, zero padding SEA_FE_PAD_LEFT before the window):
 *   1. the SEA_FE_N_DFT samples times the periodic Hann window (scaled by 2^-16: int16 PCM / 32768, and 1/2
 *      for the real-FFT split below), packed as SEA_FE_N_DFT / 2 complex values in bit-reversed order;
 *   2. a radix-2/4 complex FFT of SEA_FE_N_DFT / 2 points, then the real-FFT split to the power |X[k]|^2 of
 *      bins 0 .. SEA_FE_N_DFT / 2 (frames over the window's edge are zero-padded copies);
 *   3. the sparse mel filterbank (float32 weights of sea.students.frontend_numpy.mel_filterbank_numpy);
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

/* Complex multiply (ar + i ai) * (wr + i wi), each part rounded once after a product and an FMA. */
#define SEA_CMUL(re, im, ar, ai, wr, wi) \
    do {                                 \
        const float ar_ = (ar), ai_ = (ai); \
        (re) = SEA_FMA(-ai_, (wi), ar_ * (wr)); \
        (im) = SEA_FMA(ar_, (wi), ai_ * (wr)); \
    } while (0)

/* 8-point DFT of a0..a7 (bit-reversed order) stored in natural order at o[r * stride] (re, im): the three
 * radix-2 DIT stages with their internal twiddles 1, -i and W_8 = (1 - i) / sqrt(2). Scalars in, stores out, so
 * that everything stays in the 32 single-precision registers. */
SEA_FE_INLINE void sea_dft8(float *o, const int stride, float a0r, float a0i, float a1r, float a1i, float a2r,
                            float a2i, float a3r, float a3i, float a4r, float a4i, float a5r, float a5i, float a6r,
                            float a6i, float a7r, float a7i)
{
    const float c = 0.70710678118654752f;
    const float b0r = a0r + a1r, b0i = a0i + a1i, b1r = a0r - a1r, b1i = a0i - a1i;
    const float b2r = a2r + a3r, b2i = a2i + a3i, b3r = a2r - a3r, b3i = a2i - a3i;
    const float b4r = a4r + a5r, b4i = a4i + a5i, b5r = a4r - a5r, b5i = a4i - a5i;
    const float b6r = a6r + a7r, b6i = a6i + a7i, b7r = a6r - a7r, b7i = a6i - a7i;
    /* pairs (0, 2), (1, 3) and (4, 6), (5, 7) with 1 and -i */
    const float c0r = b0r + b2r, c0i = b0i + b2i, c2r = b0r - b2r, c2i = b0i - b2i;
    const float c1r = b1r + b3i, c1i = b1i - b3r, c3r = b1r - b3i, c3i = b1i + b3r;
    const float c4r = b4r + b6r, c4i = b4i + b6i, c6r = b4r - b6r, c6i = b4i - b6i;
    const float c5r = b5r + b7i, c5i = b5i - b7r, c7r = b5r - b7i, c7i = b5i + b7r;
    /* W_8 c5 = c (c5r + c5i) + i c (c5i - c5r); W_8^3 c7 = c (c7i - c7r) - i c (c7r + c7i) */
    const float s5 = c5r + c5i, t5 = c5i - c5r, s7 = c7i - c7r, t7 = c7r + c7i;
    o[0] = c0r + c4r;
    o[1] = c0i + c4i;
    o[4 * stride] = c0r - c4r;
    o[4 * stride + 1] = c0i - c4i;
    o[stride] = SEA_FMA(c, s5, c1r);
    o[stride + 1] = SEA_FMA(c, t5, c1i);
    o[5 * stride] = SEA_FMA(-c, s5, c1r);
    o[5 * stride + 1] = SEA_FMA(-c, t5, c1i);
    o[2 * stride] = c2r + c6i; /* c2 - i c6 */
    o[2 * stride + 1] = c2i - c6r;
    o[6 * stride] = c2r - c6i;
    o[6 * stride + 1] = c2i + c6r;
    o[3 * stride] = SEA_FMA(c, s7, c3r);
    o[3 * stride + 1] = SEA_FMA(-c, t7, c3i);
    o[7 * stride] = SEA_FMA(-c, s7, c3r);
    o[7 * stride + 1] = SEA_FMA(c, t7, c3i);
}

/* Window one frame (SEA_FE_N_DFT int16 samples x), pack it as SEA_FE_M complex values in bit-reversed order and
 * apply the first radix-8 stage, in one pass. Group g holds the complex inputs base + br3(r) M / 8 (r = 0..7,
 * br3 = 0 4 2 6 1 5 3 7 the 3-bit reversal), i.e. the real sample pairs (n + br3(r) Q, n + br3(r) Q + 1) with
 * Q = M / 4 and n = sea_fe_load_idx[g]; sea_fe_window_perm holds the 16 window values in that order. */
static void sea_fft_load8(const int16_t *x, float *z)
{
    const float *w = sea_fe_window_perm;
    int g;
    for (g = 0; g < SEA_FE_M / 8; ++g, w += 16, z += 16) {
        const int16_t *xs = x + sea_fe_load_idx[g];
#define SEA_Q (SEA_FE_M / 4)
#define SEA_X(k, i) ((float)xs[(k) * SEA_Q + (i)] * w[i])
        sea_dft8(z, 2, SEA_X(0, 0), SEA_X(0, 1), (float)xs[4 * SEA_Q] * w[2], (float)xs[4 * SEA_Q + 1] * w[3],
                 (float)xs[2 * SEA_Q] * w[4], (float)xs[2 * SEA_Q + 1] * w[5], (float)xs[6 * SEA_Q] * w[6],
                 (float)xs[6 * SEA_Q + 1] * w[7], (float)xs[1 * SEA_Q] * w[8], (float)xs[1 * SEA_Q + 1] * w[9],
                 (float)xs[5 * SEA_Q] * w[10], (float)xs[5 * SEA_Q + 1] * w[11], (float)xs[3 * SEA_Q] * w[12],
                 (float)xs[3 * SEA_Q + 1] * w[13], (float)xs[7 * SEA_Q] * w[14], (float)xs[7 * SEA_Q + 1] * w[15]);
#undef SEA_X
#undef SEA_Q
    }
}

/* A radix-8 stage (three radix-2 stages, halves h, 2h, 4h) of the in-place FFT on bit-reversed input: with
 * W = W_{8h}^j, multiply p_r (r = 1..7) by W^{br3(r)}, then the twiddle-free 8-point DFT. tw: 7 (re, im) twiddles
 * per column j = 1 .. h - 1, in the order r = 1..7. `half` is a constant at every call. */
SEA_FE_INLINE void sea_fft_r8(float *z, const int half, const float *tw)
{
    const int st = 2 * half; /* floats between p_r and p_{r+1} */
    int j, k;
    for (k = 0; k < SEA_FE_M; k += 8 * half) { /* j = 0: no twiddles */
        float *p = z + 2 * k;
        sea_dft8(p, st, p[0], p[1], p[st], p[st + 1], p[2 * st], p[2 * st + 1], p[3 * st], p[3 * st + 1], p[4 * st],
                 p[4 * st + 1], p[5 * st], p[5 * st + 1], p[6 * st], p[6 * st + 1], p[7 * st], p[7 * st + 1]);
    }
    for (j = 1; j < half; ++j, tw += 14) {
        for (k = j; k < SEA_FE_M; k += 8 * half) {
            float *p = z + 2 * k;
            float v1r, v1i, v2r, v2i, v3r, v3i, v4r, v4i, v5r, v5i, v6r, v6i, v7r, v7i;
            SEA_CMUL(v1r, v1i, p[st], p[st + 1], tw[0], tw[1]);
            SEA_CMUL(v2r, v2i, p[2 * st], p[2 * st + 1], tw[2], tw[3]);
            SEA_CMUL(v3r, v3i, p[3 * st], p[3 * st + 1], tw[4], tw[5]);
            SEA_CMUL(v4r, v4i, p[4 * st], p[4 * st + 1], tw[6], tw[7]);
            SEA_CMUL(v5r, v5i, p[5 * st], p[5 * st + 1], tw[8], tw[9]);
            SEA_CMUL(v6r, v6i, p[6 * st], p[6 * st + 1], tw[10], tw[11]);
            SEA_CMUL(v7r, v7i, p[7 * st], p[7 * st + 1], tw[12], tw[13]);
            sea_dft8(p, st, p[0], p[1], v1r, v1i, v2r, v2i, v3r, v3i, v4r, v4i, v5r, v5i, v6r, v6i, v7r, v7i);
        }
    }
}

/* A radix-4 stage (halves h and 2h): multiply p1, p2, p3 by W^2, W, W^3 (W = W_{4h}^j), then a 4-point
 * butterfly. tw: (W, W^2, W^3) per column j = 1 .. h - 1. */
SEA_FE_INLINE void sea_fft_r4(float *z, const int half, const float *tw)
{
    int j, k;
    for (j = 0; j < half; ++j) {
        float w1r = 1.0f, w1i = 0.0f, w2r = 1.0f, w2i = 0.0f, w3r = 1.0f, w3i = 0.0f;
        if (j > 0) {
            w1r = tw[0];
            w1i = tw[1];
            w2r = tw[2];
            w2i = tw[3];
            w3r = tw[4];
            w3i = tw[5];
            tw += 6;
        }
        for (k = j; k < SEA_FE_M; k += 4 * half) {
            float *p = z + 2 * k;
            float a1r, a1i, a2r, a2i, a3r, a3i;
            if (j > 0) {
                SEA_CMUL(a1r, a1i, p[2 * half], p[2 * half + 1], w2r, w2i);
                SEA_CMUL(a2r, a2i, p[4 * half], p[4 * half + 1], w1r, w1i);
                SEA_CMUL(a3r, a3i, p[6 * half], p[6 * half + 1], w3r, w3i);
            } else {
                a1r = p[2 * half];
                a1i = p[2 * half + 1];
                a2r = p[4 * half];
                a2i = p[4 * half + 1];
                a3r = p[6 * half];
                a3i = p[6 * half + 1];
            }
            {
                const float a0r = p[0], a0i = p[1];
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
        }
    }
}

/* A radix-2 stage (half h): p1 *= W_{2h}^j, then (p0 + p1, p0 - p1). tw: W per column j = 1 .. h - 1. */
SEA_FE_INLINE void sea_fft_r2(float *z, const int half, const float *tw)
{
    int j, k;
    for (j = 0; j < half; ++j) {
        const float wr = j > 0 ? tw[2 * j - 2] : 1.0f, wi = j > 0 ? tw[2 * j - 1] : 0.0f;
        for (k = j; k < SEA_FE_M; k += 2 * half) {
            float *p = z + 2 * k;
            float br, bi;
            SEA_CMUL(br, bi, p[2 * half], p[2 * half + 1], wr, wi);
            p[2 * half] = p[0] - br;
            p[2 * half + 1] = p[1] - bi;
            p[0] += br;
            p[1] += bi;
        }
    }
}

/* The FFT of one frame: the fused load + first radix-8 stage, then the stages SEA_FE_FFT_STAGES lists
 * (generated with the tables: radix 8 while three or more radix-2 stages remain, then one radix-4 or radix-2). */
static void sea_fft(const int16_t *x, float *z)
{
    sea_fft_load8(x, z);
#define SEA_FE_R8(h, offset) sea_fft_r8(z, (h), sea_fe_stage_twiddle + (offset));
#define SEA_FE_R4(h, offset) sea_fft_r4(z, (h), sea_fe_stage_twiddle + (offset));
#define SEA_FE_R2(h, offset) sea_fft_r2(z, (h), sea_fe_stage_twiddle + (offset));
    SEA_FE_FFT_STAGES(SEA_FE_R8, SEA_FE_R4, SEA_FE_R2)
#undef SEA_FE_R8
#undef SEA_FE_R4
#undef SEA_FE_R2
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
        sea_fft(x, z);
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
