/* sea firmware: int8 kernels (TFLite int8 quantisation spec, reference-kernel rounding).
 * Written by sea; no third-party source. C99, the C standard library and (with SEA_DSP=1 on Arm) arm_acle.h.
 *
 * Conventions
 *   - activations are int8 NHWC, batch 1;
 *   - requantisation is TFLite's MultiplyByQuantizedMultiplier with double rounding:
 *     RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, m), right) (the reference conv,
 *     depthwise and TFLite Micro kernels), or with single rounding where ai-edge-litert's reference
 *     FULLY_CONNECTED uses it (sea_conv.h);
 *   - weights are packed into 32-bit words so that the SIMD (SMLAD) and the plain C paths read the same
 *     arrays: int16 pairs (lo, hi) or int8 quads; see sea_conv.h.
 */
#ifndef SEA_KERNELS_H
#define SEA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifndef SEA_DSP
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define SEA_DSP 1
#else
#define SEA_DSP 0
#endif
#endif

#if SEA_DSP && !(defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP)
#error "SEA_DSP=1 needs a core with the DSP extension (Cortex-M4/M7/M33 with -mcpu=...); build with SEA_DSP=0"
#endif

/* The convolution (CONV_2D, FULLY_CONNECTED, one-channel DEPTHWISE_CONV_2D) is in sea_conv.h. */

/* Depthwise convolution (channel multiplier depth_mul), direct form. Weights int8 [k_h][k_w][out_c]. */
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint8_t k_h, k_w, s_h, s_w, d_h, d_w, depth_mul;
    int16_t pad_t, pad_l;
    int16_t in_zp, out_zp, act_min, act_max;
    const int8_t *w;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} sea_dwconv_t;

typedef struct {
    uint16_t in_h, in_w, c, out_h, out_w;
    uint8_t f_h, f_w, s_h, s_w;
    int16_t pad_t, pad_l;
    int16_t act_min, act_max;
} sea_pool_t;

/* TFLite MultiplyByQuantizedMultiplier (double rounding). m in [0, 2^31), shift in [-31, 30]. */
static inline int32_t sea_mbqm(int32_t x, int32_t m, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t xs = (int32_t)((uint32_t)x << left);
    /* SaturatingRoundingDoublingHighMul: gemmlowp adds a +-2^30 nudge and truncates toward zero, which is
     * floor((a * b + 2^30) / 2^31) for every a, b (ties go up for both signs); it saturates only for
     * a == b == INT32_MIN, impossible here as m >= 0. One SMLAL + two shifts on Cortex-M. */
    const int32_t hi = (int32_t)(((int64_t)xs * m + ((int64_t)1 << 30)) >> 31);
    /* RoundingDivideByPOT: round half away from zero */
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t rem = hi & mask;
    const int32_t thr = (mask >> 1) + (hi < 0 ? 1 : 0);
    return (hi >> right) + (rem > thr ? 1 : 0);
}

static inline int8_t sea_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

void sea_dwconv_s8(const sea_dwconv_t *p, const int8_t *in, int8_t *out);
void sea_maxpool_s8(const sea_pool_t *p, const int8_t *in, int8_t *out);
void sea_avgpool_s8(const sea_pool_t *p, const int8_t *in, int8_t *out);
void sea_lut_s8(const int8_t *lut, const int8_t *in, int8_t *out, size_t n);

#endif /* SEA_KERNELS_H */
