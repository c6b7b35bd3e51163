package org.mmunotifier.mm;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.MemoryAddress;
import jdk.jfr.Name;
import jdk.jfr.Threshold;

/**
 * JFR event: one walk of an invalidation over the notifier list, the start's or the end's
 * (docs/observability.md). Only a walk over at least one linked notifier is recorded: an mm
 * without notifiers, and the interval-notifier pass, record nothing. The duration is the walk
 * (the callbacks), not the time from the start to the end.
 *
 * <p>Off by default: while enabled it costs every walk about 50 ns (the event object and two
 * clock reads, committed or not), which would triple a cheap walk in any default recording.
 * Enable it for the recording that needs it; its threshold then keeps the slow walks (set it to
 * 0 to see every one).
 */
@Name("org.mmunotifier.mm.Invalidation")
@Label("MMU Notifier Invalidation")
@Category({"MMU Notifiers", "Notifiers"})
@Description("The invalidateRangeStart or invalidateRangeEnd walk of one range over the mm's notifiers")
@Threshold("20 us")
@Enabled(false)
final class InvalidationEvent extends Event {
    static final String START = "start";
    static final String END = "end";

    @Label("Phase")
    @Description("start: invalidateRangeStart; end: invalidateRangeEnd (and invalidateRange)")
    String phase;

    @Label("Event")
    @Description("The MmuNotifierEvent of the range: why the primary invalidates")
    String kind;

    @Label("Address Space")
    @Description("The mm: its name, or MmStruct@ and its identity hash")
    String mm;

    @Label("Range Start")
    @MemoryAddress
    long rangeStart;

    @Label("Range End")
    @Description("Exclusive")
    @MemoryAddress
    long rangeEnd;

    @Label("Notifiers")
    @Description("Notifiers walked: those linked at the start (the end skips any unlinked since, usually none)")
    int notifiers;

    @Label("Blockable")
    @Description("false: a non-blockable range (the OOM reaper's), whose callbacks must not sleep")
    boolean blockable;

    @Label("Failed")
    @Description("The start did not succeed: a non-blockable start refused, or a callback threw; "
            + "the range was not started")
    boolean failed;

    /** As {@code org.mmunotifier.srcu.GracePeriodEvent.enabled()}: allocation-free once compiled. */
    static boolean enabled() {
        return new InvalidationEvent().isEnabled();
    }

    /** @return a begun event if a recording wants one, else null (nothing allocated) */
    static InvalidationEvent beginIfEnabled() {
        if (!enabled()) {
            return null;
        }
        InvalidationEvent e = new InvalidationEvent();
        e.begin();
        return e;
    }

    /** Ends the walk and commits it if it passes the threshold. */
    void finish(String phase, MmuNotifierRange range, int notifiers, boolean failed) {
        end();
        if (shouldCommit()) {
            this.phase = phase;
            this.kind = range.event().name();
            this.mm = range.mm().label();
            this.rangeStart = range.start();
            this.rangeEnd = range.end();
            this.notifiers = notifiers;
            this.blockable = range.blockable();
            this.failed = failed;
            commit();
        }
    }
}
