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
    /** The latencies the report shows. */
    public enum Latency {
        INVALIDATE("invalidate start->end"),
        SYNCHRONIZE("synchronize"),
        GET("get"),
        PUT("put"),
        REGISTER("register"),
        UNREGISTER("unregister");

        final String label;

        Latency(String label) {
            this.label = label;
        }
    }

    private static final long MAX_NANOS = TimeUnit.SECONDS.toNanos(60);

    final long[] ops = new long[Op.values().length];
    final long[] invalidations = new long[MmuNotifierEvent.values().length];
    final Histogram[] latency = new Histogram[Latency.values().length];

    public Stats() {
        for (int i = 0; i < latency.length; i++) {
            latency[i] = new Histogram(MAX_NANOS, 2);
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

    public void count(Op op) {
        ops[op.ordinal()]++;
    }

    public void invalidation(MmuNotifierEvent event) {
        invalidations[event.ordinal()]++;
    }

    /** Records a latency in nanoseconds, clamped to the histogram's range. */
    public void record(Latency which, long nanos) {
        latency[which.ordinal()].recordValue(Math.max(0, Math.min(nanos, MAX_NANOS)));
    }

    long get(Op op) {
        return ops[op.ordinal()];
    }

    /** Adds another thread's figures to this one. */
    void add(Stats other) {
        for (int i = 0; i < ops.length; i++) {
            ops[i] += other.ops[i];
        }
        for (int i = 0; i < invalidations.length; i++) {
            invalidations[i] += other.invalidations[i];
        }
        for (int i = 0; i < latency.length; i++) {
            latency[i].add(other.latency[i]);
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
