/* sea firmware: the int8 convolution (also FULLY_CONNECTED), inlined into each generated layer function so that
 * the compiler sees the layer's shapes as constants. Written by sea; no third-party source.
 * Layouts of the packed weights and of the im2col buffer: see sea_kernels.h. */
#ifndef SEA_CONV_H
#define SEA_CONV_H

#include <string.h>

#include "sea_kernels.h"

#if SEA_DSP
#include <arm_acle.h>
#endif

#if defined(__GNUC__)
#define SEA_INLINE static inline __attribute__((always_inline))
#else
#define SEA_INLINE static inline
#endif

#if SEA_DSP
/* SXTB16 with its ROR #8 operand (arm_acle.h has no rotated form): bytes 1 and 3 as an int16 pair. */
SEA_INLINE int32_t sea_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
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

/* Two int16-pair dot products a.x (lo*lo + hi*hi) added to acc: SMLAD, or its plain C equivalent. */
SEA_INLINE int32_t sea_dot2(uint32_t a, uint32_t x, int32_t acc)
{
#if SEA_DSP
    return __smlad((int32_t)a, (int32_t)x, acc);
#else
    return acc + sea_lo16(a) * sea_lo16(x) + sea_hi16(a) * sea_hi16(x);
#endif
}

#if SEA_DSP
/* SMMULR: (a * b + 2^31) >> 32, the rounded high word of the 64-bit product (DSP extension). */
SEA_INLINE int32_t sea_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#endif

/* Requantise one accumulator to int8, as TFLite's MultiplyByQuantizedMultiplier, + zero point, clamp.
 * single = 0: double rounding (TFLite reference conv / depthwise / TFLite Micro):
 *   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc, m), r);
 * single = 1: single rounding, floor((acc m + 2^(30 + r)) / 2^(31 + r)) (LiteRT's reference FULLY_CONNECTED).
 * fast = 1 when the generator proved r >= 1 and no overflow (see lower.py); then, with the same results,
 *   double: SaturatingRoundingDoublingHighMul(acc, m) = floor((2 acc m + 2^31) / 2^32) (one SMMULR) and
 *           RoundingDivideByPOT(h, r) + zp = (h + rnd[c] - (h < 0)) >> r with rnd[c] = 2^(r-1) + zp 2^r;
 *   single: (acc m + rnd64[c]) >> (31 + r) with rnd64[c] = 2^(30+r) + zp 2^(31+r) (one SMLAL), stored as
 *           the words rnd[2c] (low) and rnd[2c + 1] (high).
 * The int8 clamp is one SSAT when the activation range is the full int8 range. */
SEA_INLINE int8_t sea_requant(int32_t acc, int32_t m, int32_t shift, const int32_t *rnd, int c, int32_t out_zp,
                              int32_t lo, int32_t hi, int fast, int single)
{
    int32_t v;
    if (fast && !single) {
#if SEA_DSP
        const int32_t h = sea_smmulr(acc * 2, m);
#else
        const int32_t h = (int32_t)(((int64_t)(acc * 2) * m + (int64_t)0x80000000u) >> 32);
#endif
        v = (h + rnd[c] + (h >> 31)) >> -shift;
    } else if (fast) {
        const int64_t k = (int64_t)(((uint64_t)(uint32_t)rnd[2 * c + 1] << 32) | (uint32_t)rnd[2 * c]);
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

/* One im2col column (slot 0..3) for output pixel (oy, ox): the raw int8 inputs as int16, and in_zp for taps in the
 * padding (the zero point is folded into the bias: bias' = bias - in_zp * sum(w), so a padded tap adds 0 as in TFLite).
 * Each group of 4 taps is stored as the pairs (x0, x2), (x1, x3): what SXTB16 and SXTB16 ROR 8 produce. */
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
                for (c = 0; c < k_w * in_c; c += 4, d += 8) {
                    d[0] = zz;
                    d[1] = zz;
                }
            } else {
                const int8_t *src = in + ((ptrdiff_t)iy * in_w + ix0) * in_c;
                for (c = 0; c < k_w * in_c; c += 4, d += 8) {
                    uint32_t v;
                    memcpy(&v, src + c, 4);
#if SEA_DSP
                    d[0] = (uint32_t)__sxtb16(v);
                    d[1] = (uint32_t)sea_sxtb16_ror8(v);
#else
                    d[0] = sea_pack16(src[c], src[c + 2]);
                    d[1] = sea_pack16(src[c + 1], src[c + 3]);
#endif
                }
            }
            e += k_w * in_c;
            continue;
        }
        for (kx = 0; kx < k_w; ++kx) {
            const int ix = ox * s_w - pad_l + kx * d_w;
            const int inside = row_in && ix >= 0 && ix < in_w;
            const int8_t *src = inside ? in + ((ptrdiff_t)iy * in_w + ix) * in_c : in;
            if ((in_c & 3) == 0) {
                uint32_t *d = col + 2 * e; /* group e / 4: words 8 (e / 4) + 2 slot */
                if (!inside) {
                    for (c = 0; c < in_c; c += 4, d += 8) {
                        d[0] = zz;
                        d[1] = zz;
                    }
                } else {
                    for (c = 0; c < in_c; c += 4, d += 8) {
                        uint32_t v;
                        memcpy(&v, src + c, 4);
#if SEA_DSP
                        d[0] = (uint32_t)__sxtb16(v);
                        d[1] = (uint32_t)sea_sxtb16_ror8(v);
#else
                        d[0] = sea_pack16(src[c], src[c + 2]);
                        d[1] = sea_pack16(src[c + 1], src[c + 3]);
#endif
                    }
                }
                e += in_c;
            } else {
                for (c = 0; c < in_c; ++c, ++e) {
                    /* element e: word (e & 1) of its group, high half for e % 4 >= 2 */
                    uint32_t *d = col + 8 * (e >> 2) + (e & 1);
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

/* Output channels [0, out_c) of pixels p0..p0+n-1 (n <= 4) from the 4-column buffer. */
SEA_INLINE void sea_conv_block(const uint32_t *col, int8_t *out, const int n, const uint32_t *w, const int32_t *bias,
                               const int32_t *mult, const int8_t *shift, const int32_t *rnd, const int out_c,
                               const int k_pad,
                               const int32_t out_zp, const int32_t act_min, const int32_t act_max, const int w16,
                               const int fast, const int single)
{
    const int n_groups = k_pad >> 2;
    int oc, j;
    for (oc = 0; oc < out_c; oc += 2) {
        int32_t a0 = bias[oc], a1 = a0, a2 = a0, a3 = a0;
        int32_t b0 = bias[oc + 1], b1 = b0, b2 = b0, b3 = b0;
        const uint32_t *cp = col;
        const uint32_t *cend = col + 8 * n_groups;
        if (w16) {
            const uint32_t *wp = w + (size_t)oc * (size_t)n_groups * 2;
            do {
                /* even words of the group with (wa02, wb02), then odd words with (wa13, wb13): 8 accumulators,
                 * 2 weights and 1 column word live, which fits the 13 core registers */
                uint32_t wa = wp[0], wb = wp[2];
                a0 = sea_dot2(wa, cp[0], a0);
                b0 = sea_dot2(wb, cp[0], b0);
                a1 = sea_dot2(wa, cp[2], a1);
                b1 = sea_dot2(wb, cp[2], b1);
                a2 = sea_dot2(wa, cp[4], a2);
                b2 = sea_dot2(wb, cp[4], b2);
                a3 = sea_dot2(wa, cp[6], a3);
                b3 = sea_dot2(wb, cp[6], b3);
                wa = wp[1];
                wb = wp[3];
                a0 = sea_dot2(wa, cp[1], a0);
                b0 = sea_dot2(wb, cp[1], b0);
                a1 = sea_dot2(wa, cp[3], a1);
                b1 = sea_dot2(wb, cp[3], b1);
                a2 = sea_dot2(wa, cp[5], a2);
                b2 = sea_dot2(wb, cp[5], b2);
                a3 = sea_dot2(wa, cp[7], a3);
                b3 = sea_dot2(wb, cp[7], b3);
                wp += 4;
                cp += 8;
            } while (cp != cend);
        } else {
            const uint32_t *wp = w + (size_t)oc * (size_t)n_groups;
            do {
                const uint32_t ra = wp[0], rb = wp[1];
#if SEA_DSP
                uint32_t wa = (uint32_t)__sxtb16(ra), wb = (uint32_t)__sxtb16(rb);
#else
                uint32_t wa = sea_pack16(sea_byte(ra, 0), sea_byte(ra, 2));
                uint32_t wb = sea_pack16(sea_byte(rb, 0), sea_byte(rb, 2));
#endif
                a0 = sea_dot2(wa, cp[0], a0);
                b0 = sea_dot2(wb, cp[0], b0);
                a1 = sea_dot2(wa, cp[2], a1);
                b1 = sea_dot2(wb, cp[2], b1);
                a2 = sea_dot2(wa, cp[4], a2);
                b2 = sea_dot2(wb, cp[4], b2);
                a3 = sea_dot2(wa, cp[6], a3);
                b3 = sea_dot2(wb, cp[6], b3);
#if SEA_DSP
                wa = (uint32_t)sea_sxtb16_ror8(ra);
                wb = (uint32_t)sea_sxtb16_ror8(rb);
#else
                wa = sea_pack16(sea_byte(ra, 1), sea_byte(ra, 3));
                wb = sea_pack16(sea_byte(rb, 1), sea_byte(rb, 3));
#endif
                a0 = sea_dot2(wa, cp[1], a0);
                b0 = sea_dot2(wb, cp[1], b0);
                a1 = sea_dot2(wa, cp[3], a1);
                b1 = sea_dot2(wb, cp[3], b1);
                a2 = sea_dot2(wa, cp[5], a2);
                b2 = sea_dot2(wb, cp[5], b2);
                a3 = sea_dot2(wa, cp[7], a3);
                b3 = sea_dot2(wb, cp[7], b3);
                wp += 2;
                cp += 8;
            } while (cp != cend);
        }
        {
            const int32_t ma = mult[oc], sa = shift[oc];
            const int32_t acc_a[4] = {a0, a1, a2, a3};
            for (j = 0; j < n; ++j)
                out[j * out_c + oc] = sea_requant(acc_a[j], ma, sa, rnd, oc, out_zp, act_min, act_max, fast, single);
        }
        if (oc + 1 < out_c) {
            const int32_t mb = mult[oc + 1], sb = shift[oc + 1];
            const int32_t acc_b[4] = {b0, b1, b2, b3};
            for (j = 0; j < n; ++j)
                out[j * out_c + oc + 1] =
                    sea_requant(acc_b[j], mb, sb, rnd, oc + 1, out_zp, act_min, act_max, fast, single);
        }
    }
}

/* The whole layer: im2col four output pixels at a time, then the 2 x 4 blocked product.
 * col: 8 * k_pad bytes of scratch (4-byte aligned). */
SEA_INLINE void sea_conv_s8(const int8_t *in, int8_t *out, uint32_t *col, const uint32_t *w, const int32_t *bias,
                            const int32_t *mult, const int8_t *shift, const int32_t *rnd, const int in_h,
                            const int in_w, const int in_c, const int out_h, const int out_w, const int out_c,
                            const int k_h, const int k_w, const int s_h, const int s_w, const int d_h, const int d_w,
                            const int pad_t, const int pad_l, const int k_len, const int k_pad, const int32_t in_zp,
                            const int32_t out_zp, const int32_t act_min, const int32_t act_max, const int w16,
                            const int fast, const int single)
{
    const int n_pix = out_h * out_w;
    int pix, e, s;
    /* column words past K meet zero weights; clear them once so that no uninitialised value is ever read */
    for (e = k_len & ~3; e < k_pad; e += 4)
        memset(col + 2 * e, 0, 32);
    for (pix = 0; pix < n_pix; pix += 4) {
        const int n = n_pix - pix < 4 ? n_pix - pix : 4;
        for (s = 0; s < 4; ++s) {
            /* a partial last block repeats its last pixel in the unused slots (results not stored) */
            const int q = pix + (s < n ? s : n - 1);
            sea_im2col(in, q / out_w, q % out_w, col + 2 * s, in_h, in_w, in_c, k_h, k_w, s_h, s_w, d_h, d_w, pad_t,
                       pad_l, in_zp);
        }
        sea_conv_block(col, out + (size_t)pix * out_c, n, w, bias, mult, shift, rnd, out_c, k_pad, out_zp, act_min,
                       act_max, w16, fast, single);
    }
}

#endif /* SEA_CONV_H */
