"""Performance ratios for realtimelab, run apart from the tests: `python -m benchmarks.run`.

Why a separate package and not tests: timings on a shared 2-core machine are noisy, so they are
*measured and reported* (medians of interleaved repetitions, ratios side by side in one run),
never asserted. See `benchmarks/README.md` for what each benchmark measures and how.
"""
