/* sea firmware: the int8 convolution (also FULLY_CONNECTED), inlined into each generated layer function so that
 * the compiler sees the layer's shapes as constants. Written by sea; no third-party source.
 *
 * Layouts (the generator packs the weights to match):
 *   im2col buffer: 4 columns (4 output pixels); group g of 4 taps of column s is the pair (x0, x2) at word 8 g + s
 *                  and the pair (x1, x3) at word 8 g + 4 + s, int16 halves, low half first (what SXTB16 and
 *                  SXTB16 ROR 8 make of 4 int8 inputs); 32 * k_pad / 4 bytes;
 *   int16 weights: per output channel, per group, the words (w0, w2) and (w1, w3);
 *   int8 weights:  per output channel, per group, one word holding the bytes w0 w1 w2 w3.
 * K is padded to a multiple of 8 taps (2 groups) with zero weights. */
#ifndef SEA_CONV_H
#define SEA_CONV_H

#include <string.h>

#include "sea_kernels.h"

#if SEA_DSP
#include <arm_acle.h>
#endif

#if defined(__GNUC__)
#define SEA_INLINE static inline __attribute__((always_inline))
/* unroll loops whose trip count is a small per-layer constant (C99 _Pragma; GCC and Clang know it) */
#define SEA_UNROLL _Pragma("GCC unroll 16")
#else
#define SEA_INLINE static inline
#define SEA_UNROLL
#endif

#if SEA_DSP
/* SXTB16 with its ROR #8 operand (arm_acle.h has no rotated form): bytes 1 and 3 as an int16 pair. */
SEA_INLINE int32_t sea_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* SMMULR: (a * b + 2^31) >> 32, the rounded high word of the 64-bit product (DSP extension). */
SEA_INLINE int32_t sea_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#endif

SEA_INLINE uint32_t sea_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

SEA_INLINE int32_t sea_lo16(uint32_t v) { return (int32_t)(int16_t)(v & 0xFFFFu); }
SEA_INLINE int32_t sea_hi16(uint32_t v) { return (int32_t)(int16_t)(v >> 16); }
SEA_INLINE int32_t sea_byte(uint32_t v, int i) { return (int32_t)(int8_t)(v >> (8 * i)); }

/* Requantise one accumulator to int8, as TFLite's MultiplyByQuantizedMultiplier, + zero point, clamp.
 * q is the output channel's record: q[0] bias (zero point folded in), q[1] multiplier m, q[2] shift, q[3..4]
 * rounding constants.
 * single = 0: double rounding (TFLite reference conv / depthwise / TFLite Micro):
 *   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc, m), r);
 * single = 1: single rounding, floor((acc m + 2^(30 + r)) / 2^(31 + r)) (LiteRT's reference FULLY_CONNECTED).
 * fast = 1 when the generator proved r >= 1 and no overflow (see lower.py); then, with the same results,
 *   double: SaturatingRoundingDoublingHighMul(acc, m) = floor((2 acc m + 2^31) / 2^32) (one SMMULR) and
 *           RoundingDivideByPOT(h, r) + zp = (h + q[3] - (h < 0)) >> r with q[3] = 2^(r-1) + zp 2^r;
 *   single: (acc m + k) >> (31 + r) with k = 2^(30+r) + zp 2^(31+r) (one SMLAL), q[3] its low and q[4] its
 *           high word.
 * The int8 clamp is one SSAT when the activation range is the full int8 range. */
SEA_INLINE int8_t sea_requant(int32_t acc, const int32_t *q, int32_t out_zp, int32_t lo, int32_t hi, int fast,
                              int single)
{
    const int32_t m = q[1], shift = q[2];
    int32_t v;
    if (fast && !single) {
#if SEA_DSP
        const int32_t h = sea_smmulr(acc * 2, m);
#else
        const int32_t h = (int32_t)(((int64_t)(acc * 2) * m + (int64_t)0x80000000u) >> 32);
#endif
        v = (h + q[3] + (h >> 31)) >> -shift;
    } else if (fast) {
        const int64_t k = (int64_t)(((uint64_t)(uint32_t)q[4] << 32) | (uint32_t)q[3]);
        v = (int32_t)(((int64_t)acc * m + k) >> 32) >> (-shift - 1);
    } else if (single) {
        v = (int32_t)(((int64_t)acc * m + ((int64_t)1 << (30 - shift))) >> (31 - shift)) + out_zp;
    } else {
        v = sea_mbqm(acc, m, shift) + out_zp;
    }
#if SEA_DSP && defined(__ARM_FEATURE_SAT)
    if (lo == -128 && hi == 127)
        return (int8_t)__ssat(v, 8);
#endif
    return sea_clamp_s8(v, lo, hi);
}

/* Convert 4 int8 inputs (one word) into the pairs (x0, x2) and (x1, x3). */
SEA_INLINE void sea_split4(const int8_t *src, uint32_t *even, uint32_t *odd)
{
#if SEA_DSP
    uint32_t v;
    memcpy(&v, src, 4);
    *even = (uint32_t)__sxtb16(v);
    *odd = (uint32_t)sea_sxtb16_ror8(v);
#else
    *even = sea_pack16(src[0], src[2]);
    *odd = sea_pack16(src[1], src[3]);
#endif
}

/* One im2col column (slot 0..3) for output pixel (oy, ox): the raw int8 inputs as int16, in_zp for taps in the
 * padding (the zero point is folded into the bias: bias' = bias - in_zp * sum(w), so a padded tap adds 0 as in
 * TFLite). */
SEA_INLINE void sea_im2col(const int8_t *in, int oy, int ox, uint32_t *col, const int in_h, const int in_w,
                           const int in_c, const int k_h, const int k_w, const int s_h, const int s_w, const int d_h,
                           const int d_w, const int pad_t, const int pad_l, const int32_t zp)
{
    const uint32_t zz = sea_pack16(zp, zp);
    int ky, kx, c, e = 0;
    for (ky = 0; ky < k_h; ++ky) {
        const int iy = oy * s_h - pad_t + ky * d_h;
        const int row_in = iy >= 0 && iy < in_h;
        const int ix0 = ox * s_w - pad_l;
        if (((k_w * in_c) & 3) == 0 && (!row_in || (d_w == 1 && ix0 >= 0 && ix0 + k_w <= in_w))) {
            /* the kernel row is one contiguous run of k_w * in_c bytes (or wholly padding): whole groups */
            uint32_t *d = col + 2 * e;
            if (!row_in) {
                SEA_UNROLL
                for (c = 0; c < k_w * in_c; c += 4, d += 8) {
                    d[0] = zz;
                    d[4] = zz;
                }
            } else {
                const int8_t *src = in + ((ptrdiff_t)iy * in_w + ix0) * in_c;
                SEA_UNROLL
                for (c = 0; c < k_w * in_c; c += 4, d += 8)
                    sea_split4(src + c, d, d + 4);
            }
            e += k_w * in_c;
            continue;
        }
        for (kx = 0; kx < k_w; ++kx) {
            const int ix = ix0 + kx * d_w;
            const int inside = row_in && ix >= 0 && ix < in_w;
            const int8_t *src = inside ? in + ((ptrdiff_t)iy * in_w + ix) * in_c : in;
            if ((in_c & 3) == 0) {
                uint32_t *d = col + 2 * e;
                for (c = 0; c < in_c; c += 4, d += 8) {
                    if (inside) {
                        sea_split4(src + c, d, d + 4);
                    } else {
                        d[0] = zz;
                        d[4] = zz;
                    }
                }
                e += in_c;
            } else {
                for (c = 0; c < in_c; ++c, ++e) {
                    /* element e: the even word for e % 4 in {0, 2}, odd for {1, 3}; high half for e % 4 >= 2 */
                    uint32_t *d = col + 2 * (e & ~3) + 4 * (e & 1);
                    const uint32_t v = (uint32_t)(inside ? src[c] : zp) & 0xFFFFu;
                    if (e & 2)
                        *d = (*d & 0xFFFFu) | (v << 16);
                    else
                        *d = v;
                }
            }
        }
    }
}

/* acc[0..3] += the dot products of one weight row (n_groups groups) with the 4 columns. */
SEA_INLINE void sea_dot_row(const uint32_t *wp, const uint32_t *cp, const int n_groups, const int w16, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const uint32_t *cend = cp + 8 * n_groups;
#if SEA_DSP && defined(__thumb2__)
    /* Two groups (8 taps) per iteration: LDRD/LDR for the weights, LDM for 4 column words at a time, SMLAD.
     * The scratch registers are fixed (LDM needs an ascending list); the compiler places the rest. */
    if (w16) {
        __asm__ volatile(
            "1:\n\t"
            "ldrd   r9, r10, [%[w]], #8\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r9, r4, %[a0]\n\t"
            "smlad  %[a1], r9, r5, %[a1]\n\t"
            "smlad  %[a2], r9, r6, %[a2]\n\t"
            "smlad  %[a3], r9, r8, %[a3]\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r10, r4, %[a0]\n\t"
            "smlad  %[a1], r10, r5, %[a1]\n\t"
            "smlad  %[a2], r10, r6, %[a2]\n\t"
            "smlad  %[a3], r10, r8, %[a3]\n\t"
            "ldrd   r9, r10, [%[w]], #8\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r9, r4, %[a0]\n\t"
            "smlad  %[a1], r9, r5, %[a1]\n\t"
            "smlad  %[a2], r9, r6, %[a2]\n\t"
            "smlad  %[a3], r9, r8, %[a3]\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r10, r4, %[a0]\n\t"
            "smlad  %[a1], r10, r5, %[a1]\n\t"
            "smlad  %[a2], r10, r6, %[a2]\n\t"
            "smlad  %[a3], r10, r8, %[a3]\n\t"
            "cmp    %[c], %[e]\n\t"
            "bne    1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(wp), [c] "+r"(cp)
            : [e] "r"(cend)
            : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
    } else {
        __asm__ volatile(
            "1:\n\t"
            "ldr    r9, [%[w]], #4\n\t"
            "sxtb16 r10, r9\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r10, r4, %[a0]\n\t"
            "smlad  %[a1], r10, r5, %[a1]\n\t"
            "smlad  %[a2], r10, r6, %[a2]\n\t"
            "smlad  %[a3], r10, r8, %[a3]\n\t"
            "sxtb16 r10, r9, ror #8\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r10, r4, %[a0]\n\t"
            "smlad  %[a1], r10, r5, %[a1]\n\t"
            "smlad  %[a2], r10, r6, %[a2]\n\t"
            "smlad  %[a3], r10, r8, %[a3]\n\t"
            "ldr    r9, [%[w]], #4\n\t"
            "sxtb16 r10, r9\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r10, r4, %[a0]\n\t"
            "smlad  %[a1], r10, r5, %[a1]\n\t"
            "smlad  %[a2], r10, r6, %[a2]\n\t"
            "smlad  %[a3], r10, r8, %[a3]\n\t"
            "sxtb16 r10, r9, ror #8\n\t"
            "ldmia  %[c]!, {r4, r5, r6, r8}\n\t"
            "smlad  %[a0], r10, r4, %[a0]\n\t"
            "smlad  %[a1], r10, r5, %[a1]\n\t"
            "smlad  %[a2], r10, r6, %[a2]\n\t"
            "smlad  %[a3], r10, r8, %[a3]\n\t"
            "cmp    %[c], %[e]\n\t"
            "bne    1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(wp), [c] "+r"(cp)
            : [e] "r"(cend)
            : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
    }
#else
    do {
        int32_t e0, e1, o0, o1;
        if (w16) {
            e0 = sea_lo16(wp[0]);
            e1 = sea_hi16(wp[0]);
            o0 = sea_lo16(wp[1]);
            o1 = sea_hi16(wp[1]);
            wp += 2;
        } else {
            const uint32_t r = *wp++;
            e0 = sea_byte(r, 0);
            o0 = sea_byte(r, 1);
            e1 = sea_byte(r, 2);
            o1 = sea_byte(r, 3);
        }
        a0 += e0 * sea_lo16(cp[0]) + e1 * sea_hi16(cp[0]) + o0 * sea_lo16(cp[4]) + o1 * sea_hi16(cp[4]);
        a1 += e0 * sea_lo16(cp[1]) + e1 * sea_hi16(cp[1]) + o0 * sea_lo16(cp[5]) + o1 * sea_hi16(cp[5]);
        a2 += e0 * sea_lo16(cp[2]) + e1 * sea_hi16(cp[2]) + o0 * sea_lo16(cp[6]) + o1 * sea_hi16(cp[6]);
        a3 += e0 * sea_lo16(cp[3]) + e1 * sea_hi16(cp[3]) + o0 * sea_lo16(cp[7]) + o1 * sea_hi16(cp[7]);
        cp += 8;
    } while (cp != cend);
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The whole layer: im2col four output pixels at a time, then each output channel's dot products with them.
 * col: 8 * k_pad bytes of scratch (4-byte aligned); q: per output channel a record of q_len int32 (see
 * sea_requant). */
SEA_INLINE void sea_conv_s8(const int8_t *in, int8_t *out, uint32_t *col, const uint32_t *w, const int32_t *q,
                            const int q_len, const int in_h, const int in_w, const int in_c, const int out_h,
                            const int out_w, const int out_c, const int k_h, const int k_w, const int s_h,
                            const int s_w, const int d_h, const int d_w, const int pad_t, const int pad_l,
                            const int k_len, const int k_pad, const int32_t in_zp, const int32_t out_zp,
                            const int32_t act_min, const int32_t act_max, const int w16, const int fast,
                            const int single)
{
    const int n_pix = out_h * out_w;
    const int n_groups = k_pad >> 2;
    const int row_words = w16 ? 2 * n_groups : n_groups;
    int pix, e, s, oc;
    /* column words past K meet zero weights; clear them once so that no uninitialised value is ever read */
    for (e = k_len & ~3; e < k_pad; e += 4)
        memset(col + 2 * e, 0, 32);
    for (pix = 0; pix < n_pix; pix += 4) {
        const int n = n_pix - pix < 4 ? n_pix - pix : 4;
        int8_t *o = out + (size_t)pix * out_c;
        const uint32_t *wr = w;
        const int32_t *qc = q;
        for (s = 0; s < 4; ++s) {
            /* a partial last block repeats its last pixel in the unused slots (results not stored) */
            const int p = pix + (s < n ? s : n - 1);
            sea_im2col(in, p / out_w, p % out_w, col + s, in_h, in_w, in_c, k_h, k_w, s_h, s_w, d_h, d_w, pad_t,
                       pad_l, in_zp);
        }
        for (oc = 0; oc < out_c; ++oc, wr += row_words, qc += q_len, ++o) {
            int32_t acc[4];
            int8_t r0, r1, r2, r3;
            acc[0] = acc[1] = acc[2] = acc[3] = qc[0];
            sea_dot_row(wr, col, n_groups, w16, acc);
            /* constant indices keep acc[] in registers; stores past a partial block's end are skipped */
            r0 = sea_requant(acc[0], qc, out_zp, act_min, act_max, fast, single);
            r1 = sea_requant(acc[1], qc, out_zp, act_min, act_max, fast, single);
            r2 = sea_requant(acc[2], qc, out_zp, act_min, act_max, fast, single);
            r3 = sea_requant(acc[3], qc, out_zp, act_min, act_max, fast, single);
            o[0] = r0;
            if (n > 1)
                o[out_c] = r1;
            if (n > 2)
                o[2 * out_c] = r2;
            if (n > 3)
                o[3 * out_c] = r3;
        }
    }
}

#endif /* SEA_CONV_H */
