/* sea firmware: int8 kernels other than the convolution (see sea_conv.h). Written by sea; no third-party
 * source. */
#include "sea_kernels.h"

/* The requantisation relies on >> of negative values being arithmetic (true for GCC, Clang, IAR, armcc). */
typedef char sea_check_arithmetic_shift[((-3) >> 1) == -2 ? 1 : -1];

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
