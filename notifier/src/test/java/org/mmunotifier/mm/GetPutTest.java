package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** B-8 .. B-20: find_get_mmu_notifier, mmu_notifier_get(_locked), mmu_notifier_put. */
class GetPutTest extends NotifierTestBase {

    private final Recorder.Ops ops = trackingOps("gp");

    @Test
    void B8_get_keysOnOpsIdentity() {
        MmStruct mm = new MmStruct();
        Recorder.Ops other = trackingOps("gp"); // same class and name, another instance
        Recorder a = MmuNotifiers.get(ops, mm);
        Recorder b = MmuNotifiers.get(other, mm);
        Recorder a2 = MmuNotifiers.get(ops, mm);
        assertThat(b).isNotSameAs(a);
        assertThat(a2).isSameAs(a);
        assertThat(a.users).isEqualTo(2);
        assertThat(ops.allocs.get()).isEqualTo(1);
        MmuNotifiers.put(a);
        MmuNotifiers.put(a2);
        MmuNotifiers.put(b);
    }

    @Test
    void B8_get_atUsersLimit_throwsAndChangesNothing() {
        MmStruct mm = new MmStruct();
        MmuNotifiers.usersLimit = 3;
        Recorder a = MmuNotifiers.get(ops, mm);
        MmuNotifiers.get(ops, mm);
        MmuNotifiers.get(ops, mm);
        assertThatThrownBy(() -> MmuNotifiers.get(ops, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("limit")
                .hasMessageContaining("nothing changed");
        assertThat(a.users).isEqualTo(3);
        assertThat(ops.allocs.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(2);
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        for (int i = 0; i < 3; i++) {
            MmuNotifiers.put(a);
        }
    }

    @Test
    void B9_getPutGet_insideDeferralWindow_returnsNewNotifier_oldFreedOnce() {
        MmStruct mm = new MmStruct();
        Recorder old = MmuNotifiers.get(ops, mm);
        int idx = NotifierDomain.SRCU.readLock(); // a reader that keeps the deferred free waiting
        Recorder fresh;
        try {
            MmuNotifiers.put(old);
            fresh = MmuNotifiers.get(ops, mm);
            assertThat(fresh).isNotSameAs(old);
            assertThat(old.frees.get()).as("free waits for the reader").isZero();
            assertThat(mm.subscriptions.list).containsExactly(fresh);
        } finally {
            NotifierDomain.SRCU.readUnlock(idx);
        }
        MmuNotifiers.synchronize();
        assertThat(old.frees.get()).isEqualTo(1);
        assertThat(fresh.frees.get()).isZero();
        MmuNotifiers.put(fresh);
        MmuNotifiers.synchronize();
        assertThat(fresh.frees.get()).isEqualTo(1);
        assertThat(old.frees.get()).isEqualTo(1);
    }

    @Test
    void B9_get_findsANotifierAddedByRegister_withOneUser() {
        MmStruct mm = new MmStruct();
        Recorder registered = track(new Recorder("registered", ops));
        MmuNotifiers.register(registered, mm);
        Recorder got = MmuNotifiers.get(ops, mm);
        assertThat(got).isSameAs(registered);
        assertThat(registered.users).isEqualTo(2);
        assertThat(ops.allocs.get()).isZero();
        MmuNotifiers.put(got);
        MmuNotifiers.put(registered); // the amdkfd pattern: register, later put
        MmuNotifiers.synchronize();
        assertThat(registered.frees.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void B10_getLocked_requiresMmapWriteLock() {
        MmStruct mm = new MmStruct();
        assertThatThrownBy(() -> MmuNotifiers.getLocked(ops, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("mmap lock");
        mm.mmapReadLock();
        try {
            assertThatThrownBy(() -> MmuNotifiers.getLocked(ops, mm)).isInstanceOf(IllegalStateException.class);
        } finally {
            mm.mmapReadUnlock();
        }
        assertThat(ops.allocs.get()).isZero();
        mm.mmapWriteLock();
        Recorder mn;
        try {
            mn = MmuNotifiers.getLocked(ops, mm);
        } finally {
            mm.mmapWriteUnlock();
        }
        MmuNotifiers.put(mn);
    }

    @Test
    void B10_concurrentGets_allocateOnce_andCountEveryUser() throws Exception {
        MmStruct mm = new MmStruct();
        int n = 8;
        CyclicBarrier go = new CyclicBarrier(n);
        List<Worker> workers = new ArrayList<>();
        List<Recorder> got = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < n; i++) {
            workers.add(new Worker("get-" + i, () -> {
                go.await();
                got.add(MmuNotifiers.get(ops, mm));
            }));
        }
        for (Worker w : workers) {
            w.joinChecked();
        }
        assertThat(ops.allocs.get()).isEqualTo(1);
        assertThat(got).hasSize(n).allMatch(r -> r == got.get(0));
        assertThat(got.get(0).users).isEqualTo(n);
        assertThat(mm.count()).isEqualTo(2);
        for (Recorder r : got) {
            MmuNotifiers.put(r);
        }
    }

    @Test
    void B10_get_onAnExitedMm_isRefused_andAllocatesNothing() {
        MmStruct mm = new MmStruct();
        mm.mmgrab();
        mm.mmput();
        assertThatThrownBy(() -> MmuNotifiers.get(ops, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("no users");
        assertThat(ops.allocs.get()).isZero();
        assertThat(mm.count()).isEqualTo(1);
        mm.mmdrop();
    }

    @Test
    void B17_freeNotifierThrowing_stillDropsTheMm() {
        MmStruct mm = new MmStruct();
        Recorder.Ops failing = new Recorder.Ops("failfree") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            void onFree(Recorder mn) {
                throw new IllegalStateException("driver bug in freeNotifier (expected by this test)");
            }
        };
        Recorder mn = MmuNotifiers.get(failing, mm);
        mm.mmput();
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.isDestroyed()).isTrue();
        assertThat(org.mmunotifier.srcu.ExecutionContext.current().depth()).isZero();
    }

    @Test
    void B11_get_hit_returnsWithoutAllocating() {
        MmStruct mm = new MmStruct();
        Recorder a = MmuNotifiers.get(ops, mm);
        Recorder b = MmuNotifiers.get(ops, mm);
        assertThat(b).isSameAs(a);
        assertThat(ops.allocs.get()).isEqualTo(1);
        assertThat(mm.count()).as("the reference is per notifier, not per get (B-37)").isEqualTo(2);
        MmuNotifiers.put(a);
        MmuNotifiers.put(b);
    }

    @Test
    void B12_allocThrowing_passesTheExceptionBack_registersNothing_freesNothing() {
        MmStruct mm = new MmStruct();
        RuntimeException boom = new RuntimeException("no memory");
        AtomicInteger frees = new AtomicInteger();
        MmuNotifierOps<Recorder> failing = new MmuNotifierOps<>() {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                throw boom;
            }

            @Override
            public void freeNotifier(Recorder mn) {
                frees.incrementAndGet();
            }
        };
        assertThatThrownBy(() -> MmuNotifiers.get(failing, mm)).isSameAs(boom);
        assertThat(frees.get()).isZero();
        assertThat(mm.hasNotifiers()).isFalse();
        assertThat(mm.count()).isEqualTo(1);
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
    }

    @Test
    void B12_allocReturningNull_isAClearError() {
        MmStruct mm = new MmStruct();
        MmuNotifierOps<Recorder> nulls = new MmuNotifierOps<>() {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return null;
            }
        };
        assertThatThrownBy(() -> MmuNotifiers.get(nulls, mm))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("returned null");
        assertThat(mm.hasNotifiers()).isFalse();
        assertThat(mm.count()).isEqualTo(1);
    }

    @Test
    void B12_get_setsTheOpsOverWhatTheAllocatorPutThere() {
        MmStruct mm = new MmStruct();
        Recorder.Ops decoy = new Recorder.Ops("decoy");
        Recorder.Ops real = new Recorder.Ops("real") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(new Recorder("pre-set", decoy));
            }
        };
        Recorder mn = MmuNotifiers.get(real, mm);
        assertThat(mn.ops()).isSameAs(real);
        MmuNotifiers.put(mn);
    }

    @Test
    void B12_opsWithoutAllocNotifier_cannotBeUsedWithGet() {
        MmStruct mm = new MmStruct();
        MmuNotifierOps<Recorder> registerOnly = new MmuNotifierOps<>() {
        };
        assertThatThrownBy(() -> MmuNotifiers.get(registerOnly, mm))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("allocNotifier");
        assertThat(mm.hasNotifiers()).isFalse();
    }

    @Test
    void B13_registrationFailingAfterAlloc_freesSynchronously_andReportsTheError() {
        MmStruct mm = new MmStruct();
        AtomicReference<Thread> freedOn = new AtomicReference<>();
        Recorder.Ops interrupting = new Recorder.Ops("intr") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                Thread.currentThread().interrupt(); // a fatal signal arrives during allocation
                return track(super.allocNotifier(m));
            }

            @Override
            void onFree(Recorder mn) {
                freedOn.set(Thread.currentThread());
            }
        };
        try {
            assertThatThrownBy(() -> MmuNotifiers.get(interrupting, mm))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("-EINTR");
        } finally {
            Thread.interrupted();
        }
        assertThat(freedOn.get()).as("freeNotifier ran synchronously").isSameAs(Thread.currentThread());
        assertThat(interrupting.allocs.get()).isEqualTo(1);
        assertThat(mm.hasNotifiers()).isFalse();
        assertThat(mm.count()).as("no mm reference leaked").isEqualTo(1);
    }

    @Test
    void B14_notifierMm_staysValidUntilPut_andCanBeMadeActive() {
        MmStruct mm = new MmStruct();
        Recorder mn = MmuNotifiers.get(ops, mm);
        assertThat(mn.mm()).isSameAs(mm);
        assertThat(mn.mm().mmgetNotZero()).isTrue();
        mn.mm().mmput();
        mm.mmput(); // exit
        assertThat(mn.mm().mmgetNotZero()).isFalse();
        assertThat(mn.mm().count()).as("the notifier still holds the mm").isEqualTo(1);
        assertThat(mm.isDestroyed()).isFalse();
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B15_putUnderflow_throwsAndChangesNothing() {
        MmStruct mm = new MmStruct();
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifiers.put(mn);
        assertThatThrownBy(() -> MmuNotifiers.put(mn))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("no reference left");
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        Recorder never = new Recorder("never", ops);
        assertThatThrownBy(() -> MmuNotifiers.put(never))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("never registered");
    }

    @Test
    void B15_putThatIsNotTheLast_onlyDecrements() {
        MmStruct mm = new MmStruct();
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifiers.get(ops, mm);
        MmuNotifiers.put(mn);
        assertThat(mn.users).isEqualTo(1);
        assertThat(mn.linked()).isTrue();
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isZero();
        MmuNotifiers.put(mn);
    }

    @Test
    void B16_lastPut_unlinksBeforeReturning_andDefersTheFree() {
        MmStruct mm = new MmStruct();
        Recorder mn = MmuNotifiers.get(ops, mm);
        int idx = NotifierDomain.SRCU.readLock();
        try {
            MmuNotifiers.put(mn);
            assertThat(mn.linked()).isFalse();
            assertThat(mm.subscriptions.list).isEmpty();
            assertThat(mn.frees.get()).isZero();
        } finally {
            NotifierDomain.SRCU.readUnlock(idx);
        }
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        assertThat(mn.starts.get()).as("an invalidation after the put does not see it").isZero();
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mn.releases.get()).as("put never calls release").isZero();
    }

    @Test
    void B16_lastPut_neverBlocks_evenWhileACallbackRuns() throws Exception {
        MmStruct mm = new MmStruct();
        CountDownLatch inStart = new CountDownLatch(1);
        CountDownLatch proceed = gate();
        Recorder.Ops blocking = new Recorder.Ops("blk") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                inStart.countDown();
                try {
                    proceed.await();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                return true;
            }
        };
        Recorder mn = MmuNotifiers.get(blocking, mm);
        MmuNotifierRange r = range(mm);
        Worker inv = new Worker("invalidator", () -> {
            PrimaryMmu.invalidateRangeStart(r);
            PrimaryMmu.invalidateRangeEnd(r);
        });
        inStart.await();
        MmuNotifiers.put(mn); // returns while the callback is blocked
        assertThat(mn.frees.get()).isZero();
        proceed.countDown();
        inv.joinChecked();
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mn.ends.get()).as("unlinked before its end: no end (the kernel's rule)").isZero();
    }

    @Test
    void B17_deferredFree_callsFreeNotifierThenMmdrop_possiblyTheFinalOne() {
        MmStruct mm = new MmStruct();
        AtomicInteger countAtFree = new AtomicInteger(-1);
        Recorder.Ops watching = new Recorder.Ops("watch") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            void onFree(Recorder mn) {
                countAtFree.set(mn.mm().count());
                assertThat(Thread.currentThread().getName()).contains("mmu_notifier");
            }
        };
        Recorder mn = MmuNotifiers.get(watching, mm);
        mm.mmput(); // exit: only the notifier's reference is left
        assertThat(mm.count()).isEqualTo(1);
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize();
        assertThat(countAtFree.get()).as("mmdrop comes after freeNotifier").isEqualTo(1);
        assertThat(mm.count()).isZero();
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B18_putFromRelease_duringExit_freesOnce() {
        MmStruct mm = new MmStruct();
        Recorder.Ops selfPut = new Recorder.Ops("amdkfd") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            void onRelease(Recorder mn, MmStruct m) {
                MmuNotifiers.put(mn);
            }
        };
        Recorder mn = MmuNotifiers.get(selfPut, mm);
        mm.mmput();
        MmuNotifiers.synchronize();
        assertThat(mn.releases.get()).isEqualTo(1);
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.isDestroyed()).isTrue();
    }

    @Test
    void B19_lastPut_doesNotCallRelease() {
        MmStruct mm = new MmStruct();
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize();
        assertThat(mn.releases.get()).isZero();
        assertThat(mn.frees.get()).isEqualTo(1);
    }

    @Test
    void B20_putAfterExit_stillFreesAndDropsTheMm() {
        MmStruct mm = new MmStruct();
        Recorder mn = MmuNotifiers.get(ops, mm);
        Recorder same = MmuNotifiers.get(ops, mm);
        mm.mmput();
        assertThat(mn.releases.get()).isEqualTo(1);
        assertThat(mn.linked()).isFalse();
        assertThat(mn.users).as("exit leaves the counts of gets alone").isEqualTo(2);
        MmuNotifiers.put(mn);
        MmuNotifiers.put(same);
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.isDestroyed()).isTrue();
    }
}
