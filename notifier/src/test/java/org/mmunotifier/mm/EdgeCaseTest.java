package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.mmunotifier.srcu.ExecutionContext;

/**
 * The corners of dispatch and registration that the main behaviour tests pass by: failures of
 * the young callbacks and of release, checked exceptions, the blockable-start warning, the
 * range's accessors, and a notifier registered a second time. Each test names the behaviour.
 */
class EdgeCaseTest extends NotifierTestBase {

    /** Ops whose young callbacks answer or throw as told. */
    private static final class YoungOps implements MmuNotifierOps<MmuNotifier> {
        final RuntimeException fail;
        final boolean answer;
        final AtomicInteger calls = new AtomicInteger();

        YoungOps(boolean answer, RuntimeException fail) {
            this.answer = answer;
            this.fail = fail;
        }

        @Override
        public boolean clearYoung(MmuNotifier mn, MmStruct mm, long start, long end) {
            calls.incrementAndGet();
            if (fail != null) {
                throw fail;
            }
            return answer;
        }
    }

    private static MmuNotifier notifier(MmuNotifierOps<MmuNotifier> ops) {
        return new MmuNotifier(ops) {
        };
    }

    @Test
    void B32_aYoungCallbackThatThrows_doesNotStopTheWalk_andItsExceptionReachesTheCaller() {
        MmStruct mm = new MmStruct();
        YoungOps failing = new YoungOps(false, new IllegalStateException("young failed"));
        YoungOps answering = new YoungOps(true, null);
        MmuNotifier a = notifier(failing);
        MmuNotifier b = notifier(answering);
        MmuNotifiers.register(a, mm);
        MmuNotifiers.register(b, mm);
        assertThatThrownBy(() -> PrimaryMmu.clearYoung(mm, 0, 4096)).hasMessage("young failed");
        assertThat(failing.calls.get()).isEqualTo(1);
        assertThat(answering.calls.get()).as("the other notifier was still asked").isEqualTo(1);
        MmuNotifiers.unregister(a, mm);
        assertThat(PrimaryMmu.clearYoung(mm, 0, 4096)).isTrue();
        MmuNotifiers.unregister(b, mm);
        mm.mmput();
    }

    @Test
    void aCheckedExceptionFromACallback_reachesTheCallerWrapped() {
        MmStruct mm = new MmStruct();
        IOException checked = new IOException("device gone");
        MmuNotifier mn = notifier(new MmuNotifierOps<>() {
            @Override
            public boolean clearYoung(MmuNotifier n, MmStruct m, long start, long end) {
                throw EdgeCaseTest.<RuntimeException>sneaky(checked);
            }
        });
        MmuNotifiers.register(mn, mm);
        assertThatThrownBy(() -> PrimaryMmu.clearYoung(mm, 0, 4096)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("checked exception").hasCause(checked);
        MmuNotifiers.unregister(mn, mm);
        mm.mmput();
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> T sneaky(Throwable t) throws T {
        throw (T) t;
    }

    @Test
    void B21_unregister_whoseReleaseThrows_stillUnregisters_thenRethrows() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = trackingOps("throwing-release");
        Recorder mn = track(new Recorder("r", ops) {
        });
        MmuNotifier thrower = notifier(new MmuNotifierOps<>() {
            @Override
            public void release(MmuNotifier n, MmStruct m) {
                throw new IllegalStateException("release failed");
            }
        });
        MmuNotifiers.register(mn, mm);
        MmuNotifiers.register(thrower, mm);
        assertThatThrownBy(() -> MmuNotifiers.unregister(thrower, mm)).hasMessage("release failed");
        assertThat(mm.count()).as("the unregister's mm reference was dropped all the same").isEqualTo(2);
        PrimaryMmu.invalidateRange(mm, 0, 4096);
        assertThat(mn.ranges.get()).isEqualTo(1);
        MmuNotifiers.register(thrower, mm); // unlinked and unclaimed: it may register again
        MmuNotifiers.unregister(mn, mm);
        assertThatThrownBy(mm::mmput).as("exit runs the release again, once").hasMessage("release failed");
    }

    @Test
    void B27_aNotifierRegisteredAgainAfterUnregister_getsItsReleaseAgainAtExit() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = trackingOps("again");
        Recorder mn = track(new Recorder("again", ops));
        MmuNotifiers.register(mn, mm);
        MmuNotifiers.unregister(mn, mm);
        assertThat(mn.releases.get()).isEqualTo(1);
        MmuNotifiers.register(mn, mm);
        mm.mmput();
        assertThat(mn.releases.get()).as("the second registration's release").isEqualTo(2);
    }

    @Test
    void B29_aBlockableStartThatReturnsFalse_isWarnedAbout_andItsEndIsDelivered() {
        MmStruct mm = new MmStruct();
        List<LogRecord> records = new ArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger jul = Logger.getLogger(MmuNotifier.class.getName());
        jul.addHandler(capture);
        AtomicInteger ends = new AtomicInteger();
        MmuNotifier mn = notifier(new MmuNotifierOps<>() {
            @Override
            public boolean invalidateRangeStart(MmuNotifier n, MmuNotifierRange range) {
                return false;
            }

            @Override
            public void invalidateRangeEnd(MmuNotifier n, MmuNotifierRange range) {
                ends.incrementAndGet();
            }
        });
        try {
            MmuNotifiers.register(mn, mm);
            MmuNotifierRange range = new MmuNotifierRange(mm, 0, 4096, MmuNotifierEvent.UNMAP, true);
            PrimaryMmu.invalidateRangeStart(range);
            PrimaryMmu.invalidateRangeEnd(range);
        } finally {
            jul.removeHandler(capture);
        }
        assertThat(ends.get()).isEqualTo(1);
        assertThat(records).hasSize(1);
        assertThat(records.get(0).getLevel()).isEqualTo(java.util.logging.Level.WARNING);
        assertThat(records.get(0).getMessage()).contains("invalidateRangeStart of " + mn)
                .contains("returned false on the blockable MmuNotifierRange[UNMAP 0x0-0x1000, blockable]");
        MmuNotifiers.unregister(mn, mm);
        mm.mmput();
    }

    @Test
    void B29_aNonBlockingStart_onAnMmWhoseNotifiersAreAllGone_succeeds() {
        MmStruct mm = new MmStruct();
        Recorder mn = track(new Recorder("gone", trackingOps("gone")));
        MmuNotifiers.register(mn, mm);
        MmuNotifiers.unregister(mn, mm); // the subscriptions stay, with an empty list
        MmuNotifierRange range = new MmuNotifierRange(mm, 0, 4096, MmuNotifierEvent.CLEAR, false);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(range)).isTrue();
        PrimaryMmu.invalidateRangeEnd(range);
        mm.mmput();
    }

    @Test
    void B30_aBlockableEnd_inAnAtomicFrame_isRefused_andTheRangeStaysStarted() {
        MmStruct mm = new MmStruct();
        Recorder mn = track(new Recorder("end", trackingOps("end")));
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange range = new MmuNotifierRange(mm, 0, 4096, MmuNotifierEvent.UNMAP, true);
        PrimaryMmu.invalidateRangeStart(range);
        ExecutionContext ctx = ExecutionContext.current();
        ctx.enter(ExecutionContext.frame("a spinlock section", true));
        try {
            assertThatThrownBy(() -> PrimaryMmu.invalidateRangeEnd(range)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("PrimaryMmu.invalidateRangeEnd (blockable range)");
        } finally {
            ctx.exit();
        }
        assertThat(mn.ends.get()).as("nothing was delivered").isZero();
        PrimaryMmu.invalidateRangeEnd(range); // the refused end can be retried
        assertThat(mn.ends.get()).isEqualTo(1);
        MmuNotifiers.unregister(mn, mm);
        mm.mmput();
    }

    @Test
    void range_accessorsAndToString() {
        MmStruct mm = new MmStruct();
        MmuNotifierRange range = new MmuNotifierRange(mm, 0x2000, 0x5000, MmuNotifierEvent.SOFT_DIRTY, false);
        assertThat(range.mm()).isSameAs(mm);
        assertThat(range.start()).isEqualTo(0x2000);
        assertThat(range.end()).isEqualTo(0x5000);
        assertThat(range.event()).isEqualTo(MmuNotifierEvent.SOFT_DIRTY);
        assertThat(range).hasToString("MmuNotifierRange[SOFT_DIRTY 0x2000-0x5000, non-blockable]");
        AtomicInteger seen = new AtomicInteger();
        MmuNotifier mn = notifier(new MmuNotifierOps<>() {
            @Override
            public void invalidateRange(MmuNotifier n, MmStruct m, long start, long end) {
                seen.set((int) (end - start));
            }
        });
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange blockable = new MmuNotifierRange(mm, 0x2000, 0x5000, MmuNotifierEvent.UNMAP, true);
        PrimaryMmu.invalidateRangeStart(blockable);
        PrimaryMmu.invalidateRangeEnd(blockable);
        assertThat(seen.get()).as("the end's invalidateRange gets the range's bounds").isEqualTo(0x3000);
        MmuNotifiers.unregister(mn, mm);
        mm.mmput();
    }

    @Test
    void notifierToString_namesItsClass_andTheOpsDefaultsDoNothing() {
        MmuNotifier mn = new MmuNotifier(new MmuNotifierOps<>() {
        }) {
        };
        assertThat(mn.toString()).matches(".*@[0-9a-f]+");
        MmuNotifierOps<MmuNotifier> defaults = new MmuNotifierOps<>() {
        };
        MmStruct mm = new MmStruct();
        assertThat(defaults.clearFlushYoung(mn, mm, 0, 1)).isFalse();
        assertThat(defaults.clearYoung(mn, mm, 0, 1)).isFalse();
        assertThat(defaults.testYoung(mn, mm, 0)).isFalse();
        assertThat(defaults.invalidateRangeStart(mn, new MmuNotifierRange(mm, 0, 1, MmuNotifierEvent.CLEAR, false)))
                .isTrue();
        mm.mmput();
    }

    @Test
    void B21_synchronize_waitsForACallbackRunningWhenItWasCalled_evenWithNoFreeQueued() throws Exception {
        MmStruct mm = new MmStruct();
        java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch gate = gate();
        MmuNotifier mn = notifier(new MmuNotifierOps<>() {
            @Override
            public boolean invalidateRangeStart(MmuNotifier n, MmuNotifierRange range) {
                inside.countDown();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return true;
            }
        });
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange range = new MmuNotifierRange(mm, 0, 4096, MmuNotifierEvent.UNMAP, true);
        Thread invalidator = new Thread(() -> {
            PrimaryMmu.invalidateRangeStart(range);
            PrimaryMmu.invalidateRangeEnd(range);
        }, "invalidator");
        invalidator.start();
        inside.await();
        Thread sync = new Thread(MmuNotifiers::synchronize, "synchronizer");
        sync.start();
        awaitParked(sync, "synchronize() returned while a callback was still running");
        assertThat(sync.isAlive()).isTrue();
        gate.countDown();
        sync.join(10_000);
        invalidator.join(10_000);
        assertThat(sync.isAlive()).isFalse();
        MmuNotifiers.unregister(mn, mm);
        mm.mmput();
    }

    @Test
    void lockedRegistration_onAnMmDestroyedWhileItsMmapLockIsHeld_isRefused_namingTheMm() {
        MmStruct mm = new MmStruct();
        mm.mmapWriteLock();
        try {
            mm.mmput(); // the last user and the last count: the mm is destroyed under our lock
            assertThat(mm.isDestroyed()).isTrue();
            MmuNotifier mn = notifier(new MmuNotifierOps<>() {
            });
            assertThatThrownBy(() -> MmuNotifiers.registerLocked(mn, mm)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("MmuNotifiers.registerLocked").hasMessageContaining(mm.toString());
            assertThatThrownBy(() -> MmuNotifiers.getLocked(new Recorder.Ops("late"), mm))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("MmuNotifiers.getLocked")
                    .hasMessageContaining(mm.toString());
        } finally {
            mm.mmapWriteUnlock();
        }
    }

    @Test
    void B29_theEndsAFailedNonBlockingStartDelivers_runInAtomicFrames() {
        MmStruct mm = new MmStruct();
        List<Boolean> atomicInEnd = new ArrayList<>();
        MmuNotifier ok = notifier(new MmuNotifierOps<>() {
            @Override
            public void invalidateRangeEnd(MmuNotifier n, MmuNotifierRange range) {
                atomicInEnd.add(ExecutionContext.current().inAtomic());
            }
        });
        MmuNotifier refusing = notifier(new MmuNotifierOps<>() {
            @Override
            public boolean invalidateRangeStart(MmuNotifier n, MmuNotifierRange range) {
                return false; // busy: a non-blockable start refuses
            }
        });
        MmuNotifiers.register(refusing, mm); // linked first, so called after ok (newest first)
        MmuNotifiers.register(ok, mm);
        MmuNotifierRange range = new MmuNotifierRange(mm, 0, 4096, MmuNotifierEvent.UNMAP, false);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(range)).isFalse();
        assertThat(atomicInEnd).as("ok's end, delivered by the failed start, in a non-blockable frame")
                .containsExactly(true);
        MmuNotifiers.unregister(ok, mm);
        MmuNotifiers.unregister(refusing, mm);
        mm.mmput();
    }
}
