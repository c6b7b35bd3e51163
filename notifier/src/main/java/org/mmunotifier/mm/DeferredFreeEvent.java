package org.mmunotifier.mm;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * JFR event: a notifier freed after its last {@code put} (docs/observability.md). The event's
 * duration runs from the last put to the end of the free, so it includes the grace period and
 * the wait in the callback queue; {@code freeDuration} is the {@code freeNotifier} call alone.
 * A recording that starts between a put and its free records nothing for that notifier.
 */
@Name("org.mmunotifier.mm.DeferredFree")
@Label("MMU Notifier Deferred Free")
@Category({"MMU Notifiers", "Notifiers"})
@Description("A notifier's last put, its grace period and its freeNotifier")
@StackTrace(false) // committed on the SRCU callback thread: its stack says nothing
final class DeferredFreeEvent extends Event {
    @Label("Notifier Class")
    Class<?> notifierClass;

    @Label("Ops Class")
    Class<?> opsClass;

    @Label("Address Space")
    @Description("The mm the notifier was registered on: its name, or MmStruct@ and its identity hash")
    String mm;

    @Label("Free Duration")
    @Description("The freeNotifier callback and the mm reference drop alone")
    @Timespan(Timespan.NANOSECONDS)
    long freeDuration;

    @Label("Failed")
    @Description("freeNotifier threw (the notifier counts as freed all the same)")
    boolean failed;

    /** As {@code org.mmunotifier.srcu.GracePeriodEvent.enabled()}: allocation-free once compiled. */
    static boolean enabled() {
        return new DeferredFreeEvent().isEnabled();
    }

    /** @return an event begun now (at the last put) if a recording wants one, else null */
    static DeferredFreeEvent beginIfEnabled() {
        if (!enabled()) {
            return null;
        }
        DeferredFreeEvent e = new DeferredFreeEvent();
        e.begin();
        return e;
    }
}
