/* sea firmware: int8 kernels. Written by sea; no third-party source. See sea_kernels.h. */
#include "sea_kernels.h"

#include <string.h>

#if SEA_DSP
#include <arm_acle.h>

/* SXTB16 with the ROR #8 operand folded in (arm_acle.h has no rotate form): bytes 1 and 3 as int16 pairs. */
static inline int32_t sea_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#endif

/* The requantisation relies on >> of negative values being arithmetic (true for GCC, Clang, IAR, armcc). */
typedef char sea_check_arithmetic_shift[((-3) >> 1) == -2 ? 1 : -1];

static inline uint32_t sea_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

static inline int32_t sea_lo16(uint32_t v) { return (int32_t)(int16_t)(v & 0xFFFFu); }
static inline int32_t sea_hi16(uint32_t v) { return (int32_t)(int16_t)(v >> 16); }
static inline int32_t sea_byte(uint32_t v, int i) { return (int32_t)(int8_t)(v >> (8 * i)); }

/* One im2col column (slot 0 or 1 of the interleaved buffer): (x - in_zp) as int16, 0 outside the image. */
static void sea_im2col(const sea_conv_t *p, const int8_t *in, int pix, uint32_t *col, int slot)
{
    const int oy = pix / p->out_w, ox = pix % p->out_w;
    const int in_c = p->in_c;
    const int32_t zp = p->in_zp;
    uint32_t *dst = col + 2 * slot; /* group g of this column: dst[4 g], dst[4 g + 1] */
    int e = 0;                      /* element index in the column */
    int ky, kx, c;
#if SEA_DSP
    const int32_t zz = (int32_t)sea_pack16(zp, zp);
#endif
    for (ky = 0; ky < p->k_h; ++ky) {
        const int iy = oy * p->s_h - p->pad_t + ky * p->d_h;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int ix = ox * p->s_w - p->pad_l + kx * p->d_w;
            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const int8_t *src = in + ((size_t)iy * p->in_w + (size_t)ix) * (size_t)in_c;
            if ((in_c & 3) == 0) {
                /* whole groups of 4: the common case */
                for (c = 0; c < in_c; c += 4, e += 4) {
                    uint32_t *d = dst + 4 * (e >> 2);
                    if (!inside) {
                        d[0] = 0;
                        d[1] = 0;
                        continue;
                    }
#if SEA_DSP
                    {
                        uint32_t v;
                        int32_t ev, od;
                        memcpy(&v, src + c, 4);
                        ev = __ssub16(__sxtb16(v), zz);            /* (x0, x2) */
                        od = __ssub16(sea_sxtb16_ror8(v), zz);     /* (x1, x3) */
                        d[0] = ((uint32_t)ev & 0xFFFFu) | ((uint32_t)od << 16);
                        d[1] = ((uint32_t)ev >> 16) | ((uint32_t)od & 0xFFFF0000u);
                    }
#else
                    d[0] = sea_pack16(src[c] - zp, src[c + 1] - zp);
                    d[1] = sea_pack16(src[c + 2] - zp, src[c + 3] - zp);
#endif
                }
            } else {
                for (c = 0; c < in_c; ++c, ++e) {
                    uint32_t *d = dst + 4 * (e >> 2) + ((e >> 1) & 1);
                    const int32_t v = inside ? src[c] - zp : 0;
                    if (e & 1)
                        *d = (*d & 0xFFFFu) | ((uint32_t)v << 16);
                    else
                        *d = (*d & 0xFFFF0000u) | ((uint32_t)v & 0xFFFFu);
                }
            }
        }
    }
}

static inline int8_t sea_requant_out(const sea_conv_t *p, int32_t acc, int oc)
{
    return sea_clamp_s8(sea_mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
}

/* Two output pixels (columns) x all output channels, two channels at a time. */
static void sea_matmul_2x2(const sea_conv_t *p, const uint32_t *col, int8_t *out0, int8_t *out1, int two)
{
    const int n_groups = p->k_pad >> 2;
    const int out_c = p->out_c;
    int oc;
    for (oc = 0; oc < out_c; oc += 2) {
        int32_t s00 = p->bias[oc], s01 = s00, s10 = p->bias[oc + 1], s11 = s10;
        const uint32_t *cp = col;
        int g;
        if (p->w16) {
            const uint32_t *wp = p->w + (size_t)oc * (size_t)n_groups * 2;
            for (g = n_groups >> 1; g; --g) {
                /* two groups of 4 taps per iteration (k_pad is a multiple of 8) */
#if SEA_DSP
                s00 = __smlad(wp[0], cp[0], s00);
                s01 = __smlad(wp[0], cp[2], s01);
                s10 = __smlad(wp[2], cp[0], s10);
                s11 = __smlad(wp[2], cp[2], s11);
                s00 = __smlad(wp[1], cp[1], s00);
                s01 = __smlad(wp[1], cp[3], s01);
                s10 = __smlad(wp[3], cp[1], s10);
                s11 = __smlad(wp[3], cp[3], s11);
                s00 = __smlad(wp[4], cp[4], s00);
                s01 = __smlad(wp[4], cp[6], s01);
                s10 = __smlad(wp[6], cp[4], s10);
                s11 = __smlad(wp[6], cp[6], s11);
                s00 = __smlad(wp[5], cp[5], s00);
                s01 = __smlad(wp[5], cp[7], s01);
                s10 = __smlad(wp[7], cp[5], s10);
                s11 = __smlad(wp[7], cp[7], s11);
#else
                int j;
                for (j = 0; j < 8; j += 4) {
                    const uint32_t a0 = wp[j], a1 = wp[j + 1], b0 = wp[j + 2], b1 = wp[j + 3];
                    const uint32_t x0 = cp[j], x1 = cp[j + 1], y0 = cp[j + 2], y1 = cp[j + 3];
                    s00 += sea_lo16(a0) * sea_lo16(x0) + sea_hi16(a0) * sea_hi16(x0) + sea_lo16(a1) * sea_lo16(x1) +
                           sea_hi16(a1) * sea_hi16(x1);
                    s01 += sea_lo16(a0) * sea_lo16(y0) + sea_hi16(a0) * sea_hi16(y0) + sea_lo16(a1) * sea_lo16(y1) +
                           sea_hi16(a1) * sea_hi16(y1);
                    s10 += sea_lo16(b0) * sea_lo16(x0) + sea_hi16(b0) * sea_hi16(x0) + sea_lo16(b1) * sea_lo16(x1) +
                           sea_hi16(b1) * sea_hi16(x1);
                    s11 += sea_lo16(b0) * sea_lo16(y0) + sea_hi16(b0) * sea_hi16(y0) + sea_lo16(b1) * sea_lo16(y1) +
                           sea_hi16(b1) * sea_hi16(y1);
                }
#endif
                wp += 8;
                cp += 8;
            }
        } else {
            const uint32_t *wp = p->w + (size_t)oc * (size_t)n_groups;
            for (g = n_groups >> 1; g; --g) {
#if SEA_DSP
                {
                    const uint32_t wa = wp[0], wb = wp[1];
                    const int32_t a01 = __sxtb16(wa), b01 = __sxtb16(wb);
                    const int32_t a23 = sea_sxtb16_ror8(wa), b23 = sea_sxtb16_ror8(wb);
                    s00 = __smlad(a01, cp[0], s00);
                    s01 = __smlad(a01, cp[2], s01);
                    s10 = __smlad(b01, cp[0], s10);
                    s11 = __smlad(b01, cp[2], s11);
                    s00 = __smlad(a23, cp[1], s00);
                    s01 = __smlad(a23, cp[3], s01);
                    s10 = __smlad(b23, cp[1], s10);
                    s11 = __smlad(b23, cp[3], s11);
                }
                {
                    const uint32_t wa = wp[2], wb = wp[3];
                    const int32_t a01 = __sxtb16(wa), b01 = __sxtb16(wb);
                    const int32_t a23 = sea_sxtb16_ror8(wa), b23 = sea_sxtb16_ror8(wb);
                    s00 = __smlad(a01, cp[4], s00);
                    s01 = __smlad(a01, cp[6], s01);
                    s10 = __smlad(b01, cp[4], s10);
                    s11 = __smlad(b01, cp[6], s11);
                    s00 = __smlad(a23, cp[5], s00);
                    s01 = __smlad(a23, cp[7], s01);
                    s10 = __smlad(b23, cp[5], s10);
                    s11 = __smlad(b23, cp[7], s11);
                }
#else
                int j;
                for (j = 0; j < 2; ++j) {
                    /* bytes are (w0, w2, w1, w3): byte i pairs with the column element below */
                    const uint32_t wa = wp[2 * j], wb = wp[2 * j + 1];
                    const uint32_t x0 = cp[4 * j], x1 = cp[4 * j + 1], y0 = cp[4 * j + 2], y1 = cp[4 * j + 3];
                    s00 += sea_byte(wa, 0) * sea_lo16(x0) + sea_byte(wa, 2) * sea_hi16(x0) +
                           sea_byte(wa, 1) * sea_lo16(x1) + sea_byte(wa, 3) * sea_hi16(x1);
                    s01 += sea_byte(wa, 0) * sea_lo16(y0) + sea_byte(wa, 2) * sea_hi16(y0) +
                           sea_byte(wa, 1) * sea_lo16(y1) + sea_byte(wa, 3) * sea_hi16(y1);
                    s10 += sea_byte(wb, 0) * sea_lo16(x0) + sea_byte(wb, 2) * sea_hi16(x0) +
                           sea_byte(wb, 1) * sea_lo16(x1) + sea_byte(wb, 3) * sea_hi16(x1);
                    s11 += sea_byte(wb, 0) * sea_lo16(y0) + sea_byte(wb, 2) * sea_hi16(y0) +
                           sea_byte(wb, 1) * sea_lo16(y1) + sea_byte(wb, 3) * sea_hi16(y1);
                }
#endif
                wp += 4;
                cp += 8;
            }
        }
        out0[oc] = sea_requant_out(p, s00, oc);
        if (two)
            out1[oc] = sea_requant_out(p, s01, oc);
        if (oc + 1 < out_c) {
            out0[oc + 1] = sea_requant_out(p, s10, oc + 1);
            if (two)
                out1[oc + 1] = sea_requant_out(p, s11, oc + 1);
        }
    }
}

void sea_conv_s8(const sea_conv_t *p, const int8_t *in, int8_t *out, uint32_t *col)
{
    const int n_pix = p->out_h * p->out_w;
    const int out_c = p->out_c;
    int pix, e;
    /* the padded tail of both columns stays zero (im2col never writes it) */
    for (e = p->k_len & ~3; e < p->k_pad; e += 4) {
        uint32_t *d = col + e; /* group e / 4 of both columns: 4 words */
        d[0] = d[1] = d[2] = d[3] = 0;
    }
    for (pix = 0; pix + 1 < n_pix; pix += 2) {
        sea_im2col(p, in, pix, col, 0);
        sea_im2col(p, in, pix + 1, col, 1);
        sea_matmul_2x2(p, col, out + (size_t)pix * out_c, out + (size_t)(pix + 1) * out_c, 1);
    }
    if (pix < n_pix) {
        /* odd pixel count: the last column goes in both slots, only the first result is stored */
        sea_im2col(p, in, pix, col, 0);
        sea_im2col(p, in, pix, col, 1);
        sea_matmul_2x2(p, col, out + (size_t)pix * out_c, out, 0);
    }
}

void sea_dwconv_s8(const sea_dwconv_t *p, const int8_t *in, int8_t *out)
{
    int oy, ox, ic, m, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * p->out_w + (size_t)ox) * p->out_c;
            for (ic = 0; ic < p->in_c; ++ic) {
                for (m = 0; m < p->depth_mul; ++m) {
                    const int oc = ic * p->depth_mul + m;
                    int32_t acc = p->bias ? p->bias[oc] : 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int iy = oy * p->s_h - p->pad_t + ky * p->d_h;
                        if (iy < 0 || iy >= p->in_h)
                            continue;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int ix = ox * p->s_w - p->pad_l + kx * p->d_w;
                            if (ix < 0 || ix >= p->in_w)
                                continue;
                            acc += (in[((size_t)iy * p->in_w + (size_t)ix) * p->in_c + ic] - p->in_zp) *
                                   p->w[((size_t)ky * p->k_w + (size_t)kx) * p->out_c + oc];
                        }
                    }
                    o[oc] = sea_clamp_s8(sea_mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min,
                                         p->act_max);
                }
            }
        }
    }
}

/* The pooling window clipped to the image, as TFLite's reference pooling does (padding is never read). */
static void sea_pool_window(const sea_pool_t *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    const int sy = oy * p->s_h - p->pad_t, sx = ox * p->s_w - p->pad_l;
    *y0 = sy < 0 ? 0 : sy;
    *x0 = sx < 0 ? 0 : sx;
    *y1 = sy + p->f_h > p->in_h ? p->in_h : sy + p->f_h;
    *x1 = sx + p->f_w > p->in_w ? p->in_w : sx + p->f_w;
}

void sea_maxpool_s8(const sea_pool_t *p, const int8_t *in, int8_t *out)
{
    int oy, ox, c, y, x, y0, y1, x0, x1;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * p->out_w + (size_t)ox) * p->c;
            sea_pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            for (c = 0; c < p->c; ++c)
                o[c] = -128;
            for (y = y0; y < y1; ++y) {
                for (x = x0; x < x1; ++x) {
                    const int8_t *s = in + ((size_t)y * p->in_w + (size_t)x) * p->c;
                    for (c = 0; c < p->c; ++c)
                        if (s[c] > o[c])
                            o[c] = s[c];
                }
            }
            for (c = 0; c < p->c; ++c)
                o[c] = sea_clamp_s8(o[c], p->act_min, p->act_max);
        }
    }
}

void sea_avgpool_s8(const sea_pool_t *p, const int8_t *in, int8_t *out)
{
    int oy, ox, c, y, x, y0, y1, x0, x1;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox) {
            int8_t *o = out + ((size_t)oy * p->out_w + (size_t)ox) * p->c;
            sea_pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            for (c = 0; c < p->c; ++c) {
                int32_t acc = 0, n = (y1 - y0) * (x1 - x0);
                for (y = y0; y < y1; ++y)
                    for (x = x0; x < x1; ++x)
                        acc += in[((size_t)y * p->in_w + (size_t)x) * p->c + c];
                if (n == 0) {
                    o[c] = 0;
                    continue;
                }
                /* TFLite rounds the average half away from zero */
                acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                o[c] = sea_clamp_s8(acc, p->act_min, p->act_max);
            }
        }
    }
}

void sea_lut_s8(const int8_t *lut, const int8_t *in, int8_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        out[i] = lut[in[i] + 128];
}
