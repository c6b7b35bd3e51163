package org.mmunotifier.simulator.check;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import org.mmunotifier.simulator.kernel.PageTable;

/**
 * Validates what secondary MMUs do and counts every violation of coherence or lifetime.
 *
 * <p>Access checks: a secondary MMU that uses a cached translation calls {@link #checkAccess}
 * while holding the primary's page-table lock or its own TLB lock, so the verdict compares the
 * translation with the primary at that exact moment (same frame, same generation, write
 * allowed). A use of the translation an entry had just before the kernel changed it, while the
 * kernel has not yet flushed the secondary TLBs (the window Linux 5.4 allows: the old frame is
 * not freed before that flush), is counted apart, per driver, and is not a violation. Lifetime checks: drivers report callback entry and exit and {@code freeNotifier}
 * through the driver package's {@code TrackedNotifier}; the checker flags a callback on freed driver state, a free
 * while a callback runs, a second free, and any callback of an unloaded driver. End-of-run checks
 * (every notifier freed once, every mm's count at zero, every frame free, no thread left) are
 * recorded by the run ({@code Simulation}) with {@link #violation}.
 *
 * <p>Thread-safe; counting is lock-free, the first {@value #SAMPLES} messages are kept.
 */
public final class Checker {
    static final int SAMPLES = 10;

    /** The kinds of violation, as named in the report. */
    public enum Kind {
        /** a secondary accessed a page that the primary no longer maps */
        ACCESS_NOT_PRESENT("access to an unmapped page"),
        /** a secondary accessed a frame other than the one the primary maps */
        ACCESS_OTHER_FRAME("access to a frame the page no longer maps"),
        /** the frame was freed and reused since the secondary translated it */
        ACCESS_STALE_GENERATION("access to a freed and reused frame"),
        /** a secondary wrote through a translation that the primary made read-only */
        ACCESS_WRITE_NOT_ALLOWED("write the primary does not allow"),
        /** a callback ran on driver state that had been freed */
        CALLBACK_ON_FREED_STATE("callback on freed driver state"),
        /** the state was freed from inside a callback that was still running on it */
        FREE_DURING_CALLBACK("free while a callback runs"),
        /** the state was freed while another thread's callback was running on it (6d7c3cde93c1) */
        FREE_DURING_OTHER_CALLBACK("free while another thread's callback runs"),
        /** a notifier's state was freed twice */
        DOUBLE_FREE("notifier freed twice"),
        /** a notifier received invalidateRangeEnd without the matching start */
        END_WITHOUT_START("invalidate end without its start"),
        /**
         * an invalidation that a mirror counted in at its start never ended before the mm's
         * release, after which no end can come: its count stays raised and every later fault of
         * that mirror retries (the liveness bug c2655835fd8c fixed)
         */
        START_WITHOUT_END("invalidate start never ended (count left raised)"),
        /**
         * a callback of a non-blockable range (the OOM reaper's) made a blocking call: it took a
         * sleeping lock where it must try the lock and refuse (93065ac753e4)
         */
        BLOCKED_IN_NONBLOCKABLE("blocking call in a non-blockable callback"),
        /** a callback of a driver ran after it unloaded */
        CALLBACK_AFTER_UNLOAD("callback after driver unload"),
        /** allocations and frees of notifiers do not balance at the end */
        NOTIFIER_LEAK("notifier not freed by the end"),
        /** an mm's count or users did not come back to zero */
        MM_REFERENCE_LEAK("mm reference left at the end"),
        /** a physical frame was still mapped at the end */
        FRAME_LEAK("frame still mapped at the end"),
        /** a simulator thread was still alive after the run */
        THREAD_LEFT_RUNNING("thread left running"),
        /** a worker thread failed with an exception */
        WORKER_FAILED("worker failed");

        public final String text;

        Kind(String text) {
            this.text = text;
        }
    }

    private final boolean enabled;
    private final AtomicLongArray counts = new AtomicLongArray(Kind.values().length);
    private final java.util.concurrent.atomic.LongAdder checks = new java.util.concurrent.atomic.LongAdder();
    private final List<String> samples = Collections.synchronizedList(new ArrayList<>());
    private final java.util.concurrent.atomic.AtomicReferenceArray<String> firstOfKind =
            new java.util.concurrent.atomic.AtomicReferenceArray<>(Kind.values().length);

    /**
     * @param enabled whether secondary accesses are validated; lifetime checks are always on
     */
    public Checker(boolean enabled) {
        this.enabled = enabled;
    }

    /** @return whether access validation is on */
    public boolean enabled() {
        return enabled;
    }

    /**
     * Validates one secondary access, and counts it for {@code who}: allowed, in the stale
     * window that 5.4 allows ({@link PageTable.Verdict#WINDOW}), or a violation.
     *
     * <p><b>Locking:</b> the caller holds {@code table}'s page-table lock, or the lock of the
     * secondary TLB it used (which the secondary flush takes too): either way the translation
     * cannot be flushed during the check.
     *
     * @return true if the access is allowed (always true with the checker off)
     */
    public boolean checkAccess(String who, PageTable table, int vpage, int frame, int gen, boolean write) {
        return checkAccess(who, table, vpage, frame, gen, write, null);
    }

    /**
     * {@link #checkAccess(String, PageTable, int, int, int, boolean)}, with what the driver knows
     * of the moment (the invalidation brackets open on its notifier), added to a violation's
     * message.
     *
     * @param context called only to describe a violation, on the caller's thread and under its
     *     locks; null for nothing
     */
    public boolean checkAccess(String who, PageTable table, int vpage, int frame, int gen, boolean write,
            java.util.function.Supplier<String> context) {
        if (!enabled) {
            return true;
        }
        checks.increment();
        PageTable.Verdict v = table.validate(vpage, frame, gen, write);
        if (v == PageTable.Verdict.OK) {
            return true;
        }
        if (v == PageTable.Verdict.WINDOW) {
            driver(who).window.increment();
            return true;
        }
        Kind k = switch (v) {
            case NOT_PRESENT -> Kind.ACCESS_NOT_PRESENT;
            case OTHER_FRAME -> Kind.ACCESS_OTHER_FRAME;
            case STALE_GENERATION -> Kind.ACCESS_STALE_GENERATION;
            case WRITE_NOT_ALLOWED -> Kind.ACCESS_WRITE_NOT_ALLOWED;
            case OK, WINDOW -> throw new AssertionError();
        };
        driver(who).violations.increment();
        violation(k, () -> who + " " + (write ? "wrote" : "read") + " " + table.owner() + " address 0x"
                + Long.toHexString((long) vpage << 12) + " through frame " + frame + " generation " + gen
                + "; the primary maps " + table.describeEntry(vpage) + " (" + v + ")"
                + (context == null ? "" : "; " + context.get()));
        return false;
    }

    /** Per-driver access verdicts: stale uses inside the allowed window, and violations. */
    public static final class DriverCounts {
        final java.util.concurrent.atomic.LongAdder window = new java.util.concurrent.atomic.LongAdder();
        final java.util.concurrent.atomic.LongAdder violations = new java.util.concurrent.atomic.LongAdder();

        /** @return accesses through a stale translation inside the window 5.4 allows */
        public long window() {
            return window.sum();
        }

        /** @return accesses that violated coherence */
        public long violations() {
            return violations.sum();
        }
    }

    private final java.util.concurrent.ConcurrentHashMap<String, DriverCounts> drivers =
            new java.util.concurrent.ConcurrentHashMap<>();

    private DriverCounts driver(String who) {
        return drivers.computeIfAbsent(who, w -> new DriverCounts());
    }

    /** @return the counts of {@code who} (zero if it never reached the checker's attention) */
    public DriverCounts countsOf(String who) {
        return driver(who);
    }

    /** @return the stale uses inside the allowed window, over every driver */
    public long windowUses() {
        long n = 0;
        for (DriverCounts c : drivers.values()) {
            n += c.window();
        }
        return n;
    }

    /**
     * Records one violation; the message is built only for the first of each kind and for the
     * first few overall, so that a flood of one kind cannot hide the example of another.
     */
    public void violation(Kind kind, java.util.function.Supplier<String> message) {
        violations(kind, 1, message);
    }

    /**
     * Records {@code n} violations of one kind with one message (n leaked notifiers found by one
     * end-of-run check count as n).
     *
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public void violations(Kind kind, long n, java.util.function.Supplier<String> message) {
        if (n < 1) {
            throw new IllegalArgumentException("violation count must be at least 1, got " + n);
        }
        if (counts.addAndGet(kind.ordinal(), n) == n) {
            firstOfKind.set(kind.ordinal(), kind.text + ": " + message.get());
            return;
        }
        if (samples.size() < SAMPLES) {
            String m = kind.text + ": " + message.get();
            synchronized (samples) {
                if (samples.size() < SAMPLES && !samples.contains(m) && !m.equals(firstOfKind.get(kind.ordinal()))) {
                    samples.add(m); // identical lines are kept once
                }
            }
        }
    }

    /** @return the number of access validations made */
    public long accessChecks() {
        return checks.sum();
    }

    /** @return the total number of violations */
    public long violations() {
        long n = 0;
        for (int i = 0; i < counts.length(); i++) {
            n += counts.get(i);
        }
        return n;
    }

    /** @return violations of one kind */
    public long violations(Kind kind) {
        return counts.get(kind.ordinal());
    }

    /** @return every kind with a nonzero count, in declaration order */
    public Map<Kind, Long> byKind() {
        Map<Kind, Long> m = new EnumMap<>(Kind.class);
        for (Kind k : Kind.values()) {
            long n = counts.get(k.ordinal());
            if (n != 0) {
                m.put(k, n);
            }
        }
        return m;
    }

    /** @return the first few violation messages */
    public List<String> samples() {
        List<String> all = new ArrayList<>();
        for (int i = 0; i < firstOfKind.length(); i++) {
            String first = firstOfKind.get(i);
            if (first != null) {
                all.add(first);
            }
        }
        synchronized (samples) {
            all.addAll(samples);
            return List.copyOf(all);
        }
    }
}
