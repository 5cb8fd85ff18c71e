/* checkauto.c: see checkauto.h. */
#include "checkauto.h"

enum check_kind checkauto_kind(enum check_kind configured, bool exposed, uint64_t completed_runs,
                               bool race_signal)
{
    switch (configured) {
    case CHECK_OFF:
        return CHECK_OFF;
    case CHECK_QUICK:
    case CHECK_INTEGRITY:
        return race_signal ? CHECK_INTEGRITY : configured;
    case CHECK_AUTO:
    default:
        break;
    }
    if (race_signal || exposed)
        return CHECK_INTEGRITY;
    /* Runs N-1, 2N-1, ...: the first run is a quick one, so a new agent reports soon. */
    return completed_runs % CHECKAUTO_INTEGRITY_EVERY == CHECKAUTO_INTEGRITY_EVERY - 1
               ? CHECK_INTEGRITY
               : CHECK_QUICK;
}
