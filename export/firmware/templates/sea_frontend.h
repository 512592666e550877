/* sea firmware: the student log-mel front-end (float32). Written by sea; see sea_frontend.c. */
#ifndef SEA_FRONTEND_H
#define SEA_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

/* pcm: n_samples <= SEA_FE_WINDOW_LENGTH int16 samples (zero-padded to a full window);
 * features: the int8 network input [n_mels][n_frames]; scratch: SEA_FE_SCRATCH_FLOATS floats.
 * Returns 0, or -1 for a NULL pointer or a window longer than SEA_FE_WINDOW_LENGTH. */
int sea_frontend_run(const int16_t *pcm, size_t n_samples, int8_t *features, float *scratch);

#endif /* SEA_FRONTEND_H */
