package org.mmunotifier.simulator;

import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.mmunotifier.mm.MmuNotifierEvent;

/**
 * Counters and latency histograms of one thread; {@link #add} merges them at the end of a run.
 *
 * <p>Not thread-safe: each worker, the reclaim thread and the main thread own one, so the hot
 * path never shares a cache line.
 */
public final class Stats {
    /**
     * The latencies the report shows, each a row of the text table, a key of the JSON
     * {@code latency} object ({@link #key}) and a chart of the HTML page. The invalidations are
     * also split by event ({@link #invalidateByEvent}).
     */
    public enum Latency {
        /** A primary bracket, from before invalidateRangeStart to after the end (every event). */
        INVALIDATE("invalidate start->end", "invalidate"),
        /** {@code MmuNotifiers.synchronize()}: a grace period, then srcu_barrier: at the accel driver's unload and at the end of the run. */
        SYNCHRONIZE("synchronize", "synchronize"),
        /** {@code MmuNotifiers.get} or {@code getLocked}. */
        GET("get", "get"),
        /** {@code MmuNotifiers.put}, from a close or from inside {@code release}. */
        PUT("put", "put"),
        /**
         * A grace period of the notifier domain as an updater sees it under load: a probe thread
         * times {@code MmuNotifiers.synchronize()} every 100 ms (a grace period, then the wait for
         * the callbacks queued before it).
         */
        GRACE_PERIOD("grace period (probe)", "gracePeriod"),
        /** {@code MmuNotifiers.register}. */
        REGISTER("register", "register"),
        /** {@code MmuNotifiers.unregister} (waits for a grace period). */
        UNREGISTER("unregister", "unregister"),
        /** A driver's {@code release} callback, from its entry to its return. */
        RELEASE("release callback", "release"),
        /** From a notifier's last put to its {@code freeNotifier} (after a grace period). */
        DEFERRED_FREE("last put->freeNotifier", "deferredFree"),
        /**
         * The last {@code mmput} of a process (release, unlink, grace period, teardown), when a
         * worker or kswapd drops the last pin; the end-of-run teardown's exits are not timed.
         */
        MMPUT("last mmput", "lastMmput");

        final String label;
        final String key;

        Latency(String label, String key) {
            this.label = label;
            this.key = key;
        }

        /** @return the row's label in the text report and the HTML page */
        public String label() {
            return label;
        }

        /** @return the row's key in the JSON {@code latency} object (camelCase) */
        public String key() {
            return key;
        }
    }

    private static final long MAX_NANOS = TimeUnit.SECONDS.toNanos(60);

    final long[] ops = new long[Op.values().length];
    final long[] invalidations = new long[MmuNotifierEvent.values().length];
    final Histogram[] latency = new Histogram[Latency.values().length];
    /** The {@link Latency#INVALIDATE} brackets again, by the range's event. */
    final Histogram[] invalidateByEvent = new Histogram[MmuNotifierEvent.values().length];

    /** Makes empty counters and histograms. */
    public Stats() {
        for (int i = 0; i < latency.length; i++) {
            latency[i] = new Histogram(MAX_NANOS, 2);
        }
        for (int i = 0; i < invalidateByEvent.length; i++) {
            invalidateByEvent[i] = new Histogram(MAX_NANOS, 2);
        }
    }

    private long[] windows = new long[0];

    /** @return a per-thread buffer of at least {@code n} longs (the stale windows an operation opened) */
    public long[] windows(int n) {
        if (windows.length < n) {
            windows = new long[n];
        }
        return windows;
    }

    /** Counts one operation. */
    public void count(Op op) {
        ops[op.ordinal()]++;
    }

    /**
     * Counts one invalidation range of {@code event} whose bracket took {@code nanos} from its
     * start to its end: recorded as {@link Latency#INVALIDATE} and again under {@code event}
     * ({@link #invalidateByEvent}).
     */
    public void invalidation(MmuNotifierEvent event, long nanos) {
        long clamped = clamp(nanos);
        invalidations[event.ordinal()]++;
        latency[Latency.INVALIDATE.ordinal()].recordValue(clamped);
        invalidateByEvent[event.ordinal()].recordValue(clamped);
    }

    /** Records a latency in nanoseconds, clamped to the histogram's range. */
    public void record(Latency which, long nanos) {
        if (which == Latency.INVALIDATE) {
            throw new IllegalArgumentException("an invalidation's latency is recorded with its event: invalidation(event, nanos)");
        }
        latency[which.ordinal()].recordValue(clamp(nanos));
    }

    private static long clamp(long nanos) {
        return Math.max(0, Math.min(nanos, MAX_NANOS));
    }

    /** @return one operation's count */
    long get(Op op) {
        return ops[op.ordinal()];
    }

    /** Adds another thread's figures to this one. */
    public void add(Stats other) {
        for (int i = 0; i < ops.length; i++) {
            ops[i] += other.ops[i];
        }
        for (int i = 0; i < invalidations.length; i++) {
            invalidations[i] += other.invalidations[i];
        }
        for (int i = 0; i < latency.length; i++) {
            latency[i].add(other.latency[i]);
        }
        for (int i = 0; i < invalidateByEvent.length; i++) {
            invalidateByEvent[i].add(other.invalidateByEvent[i]);
        }
    }

    /** @return the number of primary events */
    long primaryEvents() {
        long n = 0;
        for (Op op : Op.values()) {
            if (op.primary) {
                n += ops[op.ordinal()];
            }
        }
        return n;
    }

    /** @return primary events plus secondary accesses, attaches and detaches */
    long allEvents() {
        return primaryEvents() + ops[Op.ACCESS.ordinal()] + ops[Op.ATTACH.ordinal()] + ops[Op.DETACH.ordinal()];
    }
}
