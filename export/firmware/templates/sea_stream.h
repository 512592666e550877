/* sea firmware: windowing of a PCM stream, as sea's Pi runner (sea_edge.py) frames a file. Written by sea.
 *
 * Window i covers samples [i * hop - W / 2, i * hop + W / 2) (W = SEA_WINDOW_SAMPLES, zero outside the stream);
 * windows continue while i * hop - W / 2 + W - hop < n, i.e. count = 1 + ceil(max(0, n + W / 2 - W) / hop), which
 * is openl3's centred framing (sea.framing.frame_starts) with timestamps i * hop / SEA_SAMPLE_RATE. */
#ifndef SEA_STREAM_H
#define SEA_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* Reads up to n samples into dst; returns how many (0 at the end of the stream). */
typedef size_t (*sea_read_fn)(void *ctx, int16_t *dst, size_t n);
/* Called once per window with the window's samples; a non-zero return stops the stream. */
typedef int (*sea_window_fn)(void *ctx, const int16_t *window, size_t n, long index);

/* centered = 0 starts window i at i * hop (no half-window offset). window: SEA_WINDOW_SAMPLES of storage.
 * Returns the number of windows, or -1 for hop < 1, or -2 if on_window stopped the stream. */
long sea_stream_windows(sea_read_fn read, void *read_ctx, long hop, int centered, int16_t *window,
                        sea_window_fn on_window, void *window_ctx);

#endif /* SEA_STREAM_H */
