/* Monotonic time for durations and rates (progress lines, benchmarks, timeouts): never
 * wall-clock time, which may jump. */
#ifndef MDM_COMMON_CLOCK_H
#define MDM_COMMON_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). Thread-safe. */
double mdm_clock_s(void);

#endif
