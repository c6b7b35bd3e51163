package org.mmunotifier.srcu;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * JFR event: one batch of {@code callSrcu} callbacks run after their grace period
 * (docs/observability.md). The duration is the batch's run, not its wait for the grace period
 * (that is a {@link GracePeriodEvent} on the same thread just before).
 */
@Name("org.mmunotifier.srcu.CallbackBatch")
@Label("SRCU Callback Batch")
@Category({"MMU Notifiers", "SRCU"})
@Description("One batch of callSrcu callbacks, run one after another after the grace period that covers them all")
@StackTrace(false) // always the domain thread's loop, or an executor's worker: nothing to learn
final class CallbackBatchEvent extends Event {
    @Label("Domain")
    @Description("The name the domain was created with")
    String domain;

    @Label("Callbacks")
    @Description("Callbacks in the batch")
    int count;

    /** As {@link GracePeriodEvent#enabled()}. */
    static boolean enabled() {
        return new CallbackBatchEvent().isEnabled();
    }

    /** @return a begun event if a recording wants one, else null (nothing allocated) */
    static CallbackBatchEvent beginIfEnabled() {
        if (!enabled()) {
            return null;
        }
        CallbackBatchEvent e = new CallbackBatchEvent();
        e.begin();
        return e;
    }
}
