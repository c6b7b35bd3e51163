package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.mmunotifier.srcu.ExecutionContext;

/**
 * Invariants checked after every test: the shared SRCU domain has no open read section and no
 * pending callback after {@link MmuNotifiers#synchronize()}, and no tracked notifier saw a
 * callback after its free or was freed twice.
 */
abstract class NotifierTestBase {
    private final List<Recorder> tracked = new ArrayList<>();
    private final List<CountDownLatch> gates = new ArrayList<>();

    /**
     * A latch that a blocked callback waits on; the invariant check opens every gate first, so a
     * test that fails before opening its gate cannot leave a read section stuck for the next.
     */
    CountDownLatch gate() {
        CountDownLatch g = new CountDownLatch(1);
        synchronized (gates) {
            gates.add(g);
        }
        return g;
    }

    /** Ops whose every allocated notifier is tracked by the invariant check. */
    Recorder.Ops trackingOps(String name) {
        return new Recorder.Ops(name) {
            @Override
            public Recorder allocNotifier(MmStruct mm) {
                return track(super.allocNotifier(mm));
            }
        };
    }

    <R extends Recorder> R track(R r) {
        synchronized (tracked) {
            tracked.add(r);
        }
        return r;
    }

    @AfterEach
    void checkInvariants() throws InterruptedException {
        MmuNotifiers.usersLimit = Integer.MAX_VALUE;
        synchronized (gates) {
            gates.forEach(CountDownLatch::countDown);
        }
        // Bounded: a callback stuck in a failed test must fail this check, not hang the suite.
        Thread sync = new Thread(MmuNotifiers::synchronize, "invariant-synchronize");
        sync.setDaemon(true);
        sync.start();
        sync.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(sync.isAlive()).as("synchronize() after the test did not return: a read section or a "
                + "deferred free is stuck").isFalse();
        assertThat(NotifierDomain.SRCU.activeReaders()).as("open SRCU read sections").isZero();
        assertThat(NotifierDomain.SRCU.pendingCallbacks()).as("pending deferred frees").isZero();
        synchronized (tracked) {
            for (Recorder r : tracked) {
                assertThat(r.violationsSnapshot()).as("violations of " + r).isEmpty();
                assertThat(r.frees.get()).as("frees of " + r).isLessThanOrEqualTo(1);
            }
        }
        assertThat(ExecutionContext.current().depth()).as("callback frames left open on the test thread").isZero();
    }

    /**
     * Spins until {@code t} parks (WAITING or TIMED_WAITING), failing with {@code why} if it
     * ends first: the point where it waits for a lock or a grace period.
     */
    static void awaitParked(Thread t, String why) {
        Thread.State st;
        while ((st = t.getState()) != Thread.State.WAITING && st != Thread.State.TIMED_WAITING) {
            if (!t.isAlive()) {
                throw new AssertionError(why);
            }
            Thread.onSpinWait();
        }
    }

    static MmuNotifierRange range(MmStruct mm) {
        return new MmuNotifierRange(mm, 0x1000, 0x2000, MmuNotifierEvent.UNMAP, true);
    }

    /** Starts a thread; failures of the body are rethrown by join. */
    static final class Worker extends Thread {
        private final ThrowingRunnable body;
        private volatile Throwable failure;

        Worker(String name, ThrowingRunnable body) {
            super(name);
            this.body = body;
            setDaemon(true);
            start();
        }

        @Override
        public void run() {
            try {
                body.run();
            } catch (Throwable t) {
                failure = t;
            }
        }

        void joinChecked() throws Exception {
            join(TimeUnit.SECONDS.toMillis(30));
            if (isAlive()) {
                throw new AssertionError(getName() + " did not finish");
            }
            if (failure instanceof Exception) {
                throw (Exception) failure;
            }
            if (failure instanceof Error) {
                throw (Error) failure;
            }
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }
}
