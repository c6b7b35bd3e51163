package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The race that motivated get/put (upstream 6d7c3cde93c1, spec section 4), made deterministic
 * with latches:
 *
 * <pre>
 * Invalidating thread (T1)                  Owner thread (T2)
 * invalidateRangeStart(range)
 *   SRCU read section, mn = list[0]
 *   ops.invalidateRangeStart(mn) ... blocks
 *                                           teardown(mn)
 *                                             legacy: unlink + freeNotifier at once
 *                                             put:    unlink, freeNotifier deferred
 *   ... resumes, uses mn                    [Required: mn not freed yet]
 *   leaves the read section
 *                                           put: freeNotifier(mn) runs now
 * </pre>
 *
 * The same scenario runs with the library's put and with a test-only emulation of the legacy
 * {@code mmu_notifier_unregister_no_release} + immediate free; the check (a callback touching a
 * freed notifier) must catch the legacy variant, which shows that it can fail.
 */
class UseAfterFreeRaceTest extends NotifierTestBase {

    interface Teardown {
        void tearDown(Recorder mn, MmStruct mm);
    }

    /** The library's way: the last put. */
    private static final Teardown PUT = (mn, mm) -> MmuNotifiers.put(mn);

    /** The pre-get/put way that 6d7c3cde93c1 fixed: unlink, drop the mm, free at once. */
    private static final Teardown LEGACY_UNLINK_AND_FREE = (mn, mm) -> {
        mm.subscriptions.unlink(mn);
        mm.mmdrop();
        Dispatch.ops(mn).freeNotifier(mn);
    };

    private static final class Outcome {
        Recorder mn;
        int freesWhileBlocked;
        int startsSeenByALaterInvalidation;
    }

    private Outcome race(Teardown teardown) throws Exception {
        MmStruct mm = new MmStruct();
        CountDownLatch inStart = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        AtomicBoolean first = new AtomicBoolean(true);
        Recorder.Ops ops = new Recorder.Ops("hmm") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                if (first.getAndSet(false)) {
                    inStart.countDown();
                    try {
                        proceed.await();
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    mn.touch("hmm->lock after the wait"); // the driver reaches its own state
                }
                return true;
            }
        };
        Outcome out = new Outcome();
        out.mn = MmuNotifiers.get(ops, mm);
        MmuNotifierRange r = range(mm);
        Worker t1 = new Worker("invalidator", () -> {
            PrimaryMmu.invalidateRangeStart(r);
            PrimaryMmu.invalidateRangeEnd(r);
        });
        inStart.await();
        teardown.tearDown(out.mn, mm);
        out.freesWhileBlocked = out.mn.frees.get();
        int before = out.mn.logSnapshot().size();
        MmuNotifierRange later = range(mm); // starts after the unlink: must not see mn
        PrimaryMmu.invalidateRangeStart(later);
        PrimaryMmu.invalidateRangeEnd(later);
        out.startsSeenByALaterInvalidation = out.mn.logSnapshot().size() - before;
        proceed.countDown();
        t1.joinChecked();
        MmuNotifiers.synchronize();
        mm.mmput();
        return out;
    }

    @Test
    void race6d7c3cde93c1_withPut_freeWaitsForTheRunningCallback() throws Exception {
        Outcome out = race(PUT);
        track(out.mn);
        assertThat(out.freesWhileBlocked).isZero();
        assertThat(out.startsSeenByALaterInvalidation).isZero();
        assertThat(out.mn.violationsSnapshot()).isEmpty();
        assertThat(out.mn.frees.get()).isEqualTo(1);
        assertThat(out.mn.logSnapshot()).containsExactly("start", "free");
    }

    @Test
    void race6d7c3cde93c1_negativeControl_legacyUnlinkAndFree_isCaught() throws Exception {
        Outcome out = race(LEGACY_UNLINK_AND_FREE); // not tracked: its violations are the point
        assertThat(out.freesWhileBlocked).isEqualTo(1);
        assertThat(out.mn.violationsSnapshot())
                .contains("hmm->lock after the wait called on freed hmm#1");
    }

    /** Spec section 4, variant 5: module exit with puts from other threads, then synchronize(). */
    @Test
    void moduleExit_putsFromOtherThreads_thenSynchronize_noOpsMethodRunsAfterwards() throws Exception {
        AtomicInteger callsAfterFree = new AtomicInteger();
        AtomicInteger calls = new AtomicInteger();
        Recorder.Ops ops = new Recorder.Ops("module") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                calls.incrementAndGet();
                if (mn.freed) {
                    callsAfterFree.incrementAndGet();
                }
                return true;
            }
        };
        List<MmStruct> mms = new ArrayList<>();
        List<Recorder> notifiers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            MmStruct mm = new MmStruct();
            mms.add(mm);
            notifiers.add(MmuNotifiers.get(ops, mm));
        }
        AtomicBoolean stop = new AtomicBoolean();
        List<Worker> invalidators = new ArrayList<>();
        for (MmStruct mm : mms) {
            invalidators.add(new Worker("inv", () -> {
                while (!stop.get()) {
                    MmuNotifierRange r = range(mm);
                    PrimaryMmu.invalidateRangeStart(r);
                    PrimaryMmu.invalidateRangeEnd(r);
                }
            }));
        }
        List<Worker> putters = new ArrayList<>();
        for (Recorder mn : notifiers) {
            putters.add(new Worker("put", () -> MmuNotifiers.put(mn)));
        }
        for (Worker w : putters) {
            w.joinChecked();
        }
        MmuNotifiers.synchronize();
        assertThat(notifiers).allSatisfy(mn -> assertThat(mn.frees.get()).isEqualTo(1));
        int atReturn = calls.get();
        Thread.sleep(50); // invalidators keep running on the mms
        stop.set(true);
        for (Worker w : invalidators) {
            w.joinChecked();
        }
        assertThat(calls.get()).as("no ops method after synchronize()").isEqualTo(atReturn);
        assertThat(callsAfterFree.get()).isZero();
        for (MmStruct mm : mms) {
            mm.mmput();
            assertThat(mm.isDestroyed()).isTrue();
        }
    }
}
