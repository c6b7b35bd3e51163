package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.function.Supplier;
import org.jetbrains.lincheck.Lincheck;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Behaviour 8 in docs/srcu.md: Lincheck's model checker explores thread interleavings of
 * readLock/readUnlock/synchronize (and of callSrcu's publication edge) and finds no reader that
 * uses an object after the grace period that allowed it to be freed, for the one-fence reader (the
 * default: Lincheck's threads are platform threads, counted on their slots) and the two-RMW one. The same scenario over
 * deliberately broken counters must be caught (negative controls).
 *
 * <p>Lincheck attaches an instrumenting agent to the test JVM (the {@code jdk24plus} profile
 * adds the flags newer JDKs need for that); these tests must not run in parallel in one JVM.
 */
@Tag("lincheck")
class SrcuLincheckTest {

    /**
     * Lincheck 3.7's runConcurrentTest explores no interleaving on JDK 25 (its racy negative
     * controls pass there), so the model checking runs on JDK 17, as the build's first pass does.
     */
    @BeforeAll
    static void onlyWhereLincheckExplores() {
        assumeTrue(Runtime.version().feature() < 22, "Lincheck model checking runs on JDK 17 (it explores nothing on 25)");
    }

    private static final int INVOCATIONS = 1_000;

    /** A published object; {@code freed} stands for its memory being reclaimed. */
    static final class Obj {
        volatile boolean freed;
    }

    /** Shared state of one scenario run. */
    static final class Scenario {
        final Srcu srcu;
        volatile Obj current = new Obj();

        Scenario(Srcu srcu) {
            this.srcu = srcu;
        }

        /** Reader: enter, dereference, use the object, leave. */
        void reader() {
            int idx = srcu.readLock();
            Obj o = current;
            boolean usedAfterFree = o.freed;
            srcu.readUnlock(idx);
            if (usedAfterFree) {
                throw new AssertionError("reader used an object after the grace period that freed it");
            }
        }

        /** Updater: unpublish, wait for a grace period, free. */
        void updater() {
            Obj old = current;
            current = new Obj();
            srcu.synchronize();
            old.freed = true;
        }

        /** Updater through call_srcu: the free is deferred to the callback thread. */
        void deferredUpdater() {
            Obj old = current;
            current = new Obj();
            srcu.callSrcu(() -> old.freed = true);
            srcu.barrier();
        }
    }

    private static void runScenario(Supplier<ReaderCounters> counters, int readers, int invocations) {
        runScenario(counters, ReaderFlavour.ONE_FENCE, readers, invocations, false);
    }

    private static void runScenario(Supplier<ReaderCounters> counters, int readers, int invocations,
            boolean deferred) {
        runScenario(counters, ReaderFlavour.ONE_FENCE, readers, invocations, deferred);
    }

    private static void runScenario(Supplier<ReaderCounters> counters, ReaderFlavour flavour, int readers,
            int invocations, boolean deferred) {
        Lincheck.runConcurrentTest(invocations, () -> {
            // Under the model checker's sequential consistency the fence-free reader's heavy barrier
            // has nothing to order: a no-op stands in for membarrier (and works on JDK 17).
            Srcu.Builder b = flavour == ReaderFlavour.FENCE_FREE
                    ? Srcu.builder("lincheck").fenceFreeWithBarrier(() -> { })
                    : Srcu.builder("lincheck").readerFlavour(flavour);
            Scenario s = new Scenario(new Srcu(b, counters.get()));
            Thread[] threads = new Thread[readers + 1];
            for (int i = 0; i < readers; i++) {
                threads[i] = new Thread(s::reader);
            }
            threads[readers] = new Thread(deferred ? s::deferredUpdater : s::updater);
            Throwable[] failure = new Throwable[threads.length];
            for (int i = 0; i < threads.length; i++) {
                int n = i;
                threads[i].setUncaughtExceptionHandler((t, e) -> failure[n] = e);
                threads[i].start();
            }
            for (Thread t : threads) {
                joinQuietly(t);
            }
            s.srcu.close(); // stops the callback thread, so that every thread of the run ends
            for (Throwable f : failure) {
                if (f != null) {
                    throw new AssertionError(f.getMessage(), f);
                }
            }
        });
    }

    @Test
    void modelCheck_readerNeverSeesFreedObject() {
        runScenario(() -> new ReaderCounters(2), 1, INVOCATIONS);
    }

    @Test
    void modelCheck_twoRmwFlavour_readerNeverSeesFreedObject() {
        runScenario(() -> new ReaderCounters(2), ReaderFlavour.TWO_RMW, 1, INVOCATIONS / 2, false);
    }

    @Test
    void modelCheck_fenceFreeFlavour_readerNeverSeesFreedObject() {
        runScenario(() -> new ReaderCounters(2), ReaderFlavour.FENCE_FREE, 1, INVOCATIONS / 2, false);
    }

    @Test
    void modelCheck_callSrcu_callbackNeverFreesWhatAReaderHolds() {
        runScenario(() -> new ReaderCounters(2), 1, INVOCATIONS / 2, true);
    }

    @Test
    void modelCheck_callSrcu_negativeControl_scanThatNeverWaits_isCaught() {
        assertThatThrownBy(() -> runScenario(BrokenCounters::neverWaits, 1, INVOCATIONS / 2, true))
                .isInstanceOf(AssertionError.class);
    }

    @Test
    void modelCheck_negativeControl_scanThatNeverWaits_isCaught() {
        assertThatThrownBy(() -> runScenario(BrokenCounters::neverWaits, 1, INVOCATIONS))
                .isInstanceOf(AssertionError.class);
    }

    private static void joinQuietly(Thread t) {
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
