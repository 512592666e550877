"""Constants shared by every stage: rates, window, valid names, file extensions.

This module is the one place each of these values is defined; stages,
configs and the CLI import them from here. It imports nothing from sea.
"""

from __future__ import annotations

#: Sample rate of the OpenL3 teacher and of the audio cache it reads (Hz).
TEACHER_SR = 48000
#: Sample rate of the SEA students' log-mel front-end (Hz).
STUDENT_SR = 8000
#: Audio caches a prepared run holds by default: the teacher's and the students' rate.
DEFAULT_CACHE_SRS = (TEACHER_SR, STUDENT_SR)
#: Length of one embedding window in seconds (openl3, edgel3 and the SEA students).
WINDOW_SIZE = 1.0

#: The pipeline's stages, in order (``sea run --from/--to``).
STAGES = ("prepare", "teacher", "targets", "distill", "evaluate", "export")

#: openl3's audio options.
VALID_INPUT_REPRS = ("linear", "mel128", "mel256")
VALID_CONTENT_TYPES = ("env", "music")
VALID_EMBEDDING_SIZES = (512, 6144)
#: sea's implementations of the teacher's spectrogram front-end.
VALID_FRONTENDS = ("kapre", "librosa", "legacy")
#: Compute precisions of the teacher's CNN (autocast dtype) and storage dtypes of its frame store.
VALID_PRECISIONS = ("float32", "bfloat16", "float16")
VALID_DTYPES = ("float16", "float32")
#: Resamplers: ``kaiser_best`` is openl3's and edgel3's; soxr is faster.
VALID_RES_TYPES = ("soxr_vhq", "soxr_hq", "kaiser_best")
#: Dataset splits a manifest record may carry.
VALID_SPLITS = ("train", "validate", "test")
#: Export formats of ``sea export``.
VALID_FORMATS = ("onnx", "tflite", "mcu", "firmware", "pi")
#: Calibration methods of the int8 exporters.
VALID_CALIBRATE_METHODS = ("minmax", "entropy", "percentile")

#: File extensions read as audio, by ``sea teacher embed DIR`` and ``sea data prepare folder DIR`` alike.
AUDIO_EXTENSIONS = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64",
)  # fmt: skip
