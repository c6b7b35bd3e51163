package org.mmunotifier.mm;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Test support: a notifier that counts every callback it receives and fails the test (through
 * {@link #violations}) when a callback reaches it after it was freed, or when it is freed twice.
 */
class Recorder extends MmuNotifier {
    final String name;
    final AtomicInteger starts = new AtomicInteger();
    final AtomicInteger ends = new AtomicInteger();
    final AtomicInteger ranges = new AtomicInteger();
    final AtomicInteger releases = new AtomicInteger();
    final AtomicInteger frees = new AtomicInteger();
    /** Open start/end pairs: successful starts minus ends. */
    final AtomicInteger open = new AtomicInteger();
    /** Callbacks running on this notifier right now (freeNotifier must find 0). */
    final AtomicInteger active = new AtomicInteger();
    final List<String> violations = new ArrayList<>();
    final List<String> log = new ArrayList<>();
    volatile boolean freed;

    Recorder(String name) {
        this.name = name;
    }

    Recorder(String name, MmuNotifierOps<? extends Recorder> ops) {
        super(ops);
        this.name = name;
    }

    synchronized void violation(String what) {
        violations.add(what);
    }

    synchronized void log(String what) {
        log.add(what);
    }

    synchronized List<String> logSnapshot() {
        return new ArrayList<>(log);
    }

    synchronized List<String> violationsSnapshot() {
        return new ArrayList<>(violations);
    }

    /** Called at the top of every callback. */
    void touch(String callback) {
        if (freed) {
            violation(callback + " called on freed " + name);
        }
    }

    /** Enters a callback (pair with {@link #leave}). */
    void enter(String callback) {
        active.incrementAndGet();
        touch(callback);
    }

    void leave() {
        active.decrementAndGet();
    }

    @Override
    public String toString() {
        return "Recorder(" + name + ")";
    }

    /**
     * Ops that record into the Recorder. Tests change behaviour through the {@code on*} hooks,
     * which run inside the bookkeeping (the notifier counts as active while they run).
     */
    static class Ops implements MmuNotifierOps<Recorder> {
        final String name;
        final AtomicInteger allocs = new AtomicInteger();

        Ops(String name) {
            this.name = name;
        }

        /** Ops whose release signals {@code entered}, then blocks until {@code proceed} opens. */
        static Ops blockingRelease(String name, java.util.concurrent.CountDownLatch entered,
                java.util.concurrent.CountDownLatch proceed) {
            return new Ops(name) {
                @Override
                void onRelease(Recorder mn, MmStruct m) {
                    entered.countDown();
                    try {
                        proceed.await();
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                }
            };
        }

        /** Hook: the result of invalidateRangeStart. */
        boolean onStart(Recorder mn, MmuNotifierRange range) {
            return true;
        }

        void onEnd(Recorder mn, MmuNotifierRange range) {
        }

        void onRelease(Recorder mn, MmStruct mm) {
        }

        void onFree(Recorder mn) {
        }

        @Override
        public Recorder allocNotifier(MmStruct mm) {
            return new Recorder(name + "#" + allocs.incrementAndGet());
        }

        @Override
        public void freeNotifier(Recorder mn) {
            mn.touch("freeNotifier");
            if (mn.active.get() != 0) {
                mn.violation("freed while " + mn.active.get() + " callback(s) run on " + mn.name);
            }
            if (mn.frees.incrementAndGet() != 1) {
                mn.violation("freed twice: " + mn.name);
            }
            mn.freed = true;
            mn.log("free");
            onFree(mn);
        }

        @Override
        public void release(Recorder mn, MmStruct mm) {
            mn.enter("release");
            try {
                mn.releases.incrementAndGet();
                mn.log("release");
                onRelease(mn, mm);
            } finally {
                mn.leave();
            }
        }

        @Override
        public boolean invalidateRangeStart(Recorder mn, MmuNotifierRange range) {
            mn.enter("invalidateRangeStart");
            try {
                mn.log("start");
                boolean ok = onStart(mn, range);
                if (ok) {
                    mn.starts.incrementAndGet();
                    mn.open.incrementAndGet();
                }
                mn.touch("invalidateRangeStart (after its body)");
                return ok;
            } finally {
                mn.leave();
            }
        }

        @Override
        public void invalidateRangeEnd(Recorder mn, MmuNotifierRange range) {
            mn.enter("invalidateRangeEnd");
            try {
                mn.ends.incrementAndGet();
                if (mn.open.decrementAndGet() < 0) {
                    mn.violation("end without start on " + mn.name);
                }
                mn.log("end");
                onEnd(mn, range);
            } finally {
                mn.leave();
            }
        }

        @Override
        public void invalidateRange(Recorder mn, MmStruct mm, long start, long end) {
            mn.enter("invalidateRange");
            try {
                mn.ranges.incrementAndGet();
                mn.log("range");
            } finally {
                mn.leave();
            }
        }

        @Override
        public String toString() {
            return "Ops(" + name + ")";
        }
    }
}
