package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** B-36 .. B-38: list locking, mm_count pairing, what callbacks may call. */
class LockingContextTest extends NotifierTestBase {
    private static final org.mmunotifier.srcu.Srcu OTHER_DOMAIN = new org.mmunotifier.srcu.Srcu("other");
    private static final List<MmStruct> LEFT_TO_EXIT = java.util.Collections.synchronizedList(new ArrayList<>());

    @org.junit.jupiter.api.AfterEach
    void exitWhatTheCallbacksCouldNot() {
        synchronized (LEFT_TO_EXIT) {
            LEFT_TO_EXIT.forEach(MmStruct::mmput);
            LEFT_TO_EXIT.clear();
        }
    }

    @Test
    void B36_aWalkInProgress_usesItsSnapshot_whileTheListChangesUnderIt() throws Exception {
        MmStruct mm = new MmStruct();
        List<String> called = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.CountDownLatch inWalk = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch proceed = gate();
        Recorder.Ops ops = new Recorder.Ops("snap") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(new Recorder("old", this));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                called.add(mn.name);
                if (mn.name.equals("newest")) { // hold the walk here while the list changes
                    inWalk.countDown();
                    await(proceed);
                }
                return true;
            }
        };
        Recorder old = MmuNotifiers.get(ops, mm);
        Recorder newest = track(new Recorder("newest", ops));
        MmuNotifiers.register(newest, mm);
        MmuNotifierRange r = range(mm);
        Worker walker = new Worker("walker", () -> {
            PrimaryMmu.invalidateRangeStart(r);
            PrimaryMmu.invalidateRangeEnd(r);
        });
        await(inWalk);
        MmuNotifiers.put(old);                   // the last put of "old", mid-walk
        Recorder added = track(new Recorder("added", ops));
        MmuNotifiers.register(added, mm);        // a registration mid-walk
        proceed.countDown();
        walker.joinChecked();
        assertThat(called).as("the put notifier is still called; the new one is not").containsExactly("newest", "old");
        assertThat(old.ends.get()).as("unlinked before the end").isZero();
        assertThat(added.ends.get()).as("registered after the start").isZero();
        assertThat(newest.ends.get()).isEqualTo(1);
        assertThat(mm.subscriptions.list).containsExactly(added, newest);
        MmuNotifiers.unregister(newest, mm);
        MmuNotifiers.unregister(added, mm);
        MmuNotifiers.synchronize();
        assertThat(old.frees.get()).isEqualTo(1);
    }

    static void await(java.util.concurrent.CountDownLatch l) {
        try {
            if (!l.await(20, java.util.concurrent.TimeUnit.SECONDS)) {
                throw new AssertionError("latch not reached");
            }
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void B37_mmCountPairing_perNotifierNotPerGet() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("count") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }
        };
        Recorder reg = track(new Recorder("reg", ops));
        MmuNotifiers.register(reg, mm);
        assertThat(mm.count()).as("register: mmgrab").isEqualTo(2);
        Recorder.Ops other = new Recorder.Ops("other") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }
        };
        Recorder g = MmuNotifiers.get(other, mm);
        assertThat(mm.count()).as("get with alloc: mmgrab").isEqualTo(3);
        MmuNotifiers.get(other, mm);
        assertThat(mm.count()).as("get that finds: nothing").isEqualTo(3);
        MmuNotifiers.put(g);
        assertThat(mm.count()).as("put that is not the last: nothing").isEqualTo(3);
        int idx = NotifierDomain.SRCU.readLock();
        try {
            MmuNotifiers.put(g);
            assertThat(mm.count()).as("last put: mmdrop only after the grace period").isEqualTo(3);
        } finally {
            NotifierDomain.SRCU.readUnlock(idx);
        }
        MmuNotifiers.synchronize();
        assertThat(mm.count()).isEqualTo(2);
        MmuNotifiers.unregister(reg, mm);
        assertThat(mm.count()).as("unregister: mmdrop").isEqualTo(1);
    }

    /** Calls every blocking method of the library from inside a callback; records the outcome. */
    private static Map<String, String> callEverything(Recorder mn, MmStruct mm, Recorder.Ops ops) {
        Map<String, String> out = new LinkedHashMap<>();
        Map<String, Runnable> calls = new LinkedHashMap<>();
        calls.put("synchronize", MmuNotifiers::synchronize);
        calls.put("unregister", () -> MmuNotifiers.unregister(mn, mm));
        calls.put("get", () -> MmuNotifiers.get(ops, mm));
        calls.put("getLocked", () -> MmuNotifiers.getLocked(ops, mm));
        calls.put("register", () -> MmuNotifiers.register(new Recorder("x", ops), mm));
        calls.put("registerLocked", () -> MmuNotifiers.registerLocked(new Recorder("x", ops), mm));
        calls.put("mmapWriteLock", mm::mmapWriteLock);
        calls.put("mmapReadLock", mm::mmapReadLock);
        calls.put("blockable start", () -> PrimaryMmu.invalidateRangeStart(range(mm)));
        calls.put("Srcu.synchronize", OTHER_DOMAIN::synchronize);
        calls.put("Srcu.barrier", OTHER_DOMAIN::barrier);
        calls.put("last mmput", () -> {
            MmStruct other = new MmStruct();
            try {
                other.mmput();
            } finally {
                if (other.users() == 1) { // refused, as it must be: drop it outside the callback later
                    LEFT_TO_EXIT.add(other);
                }
            }
        });
        for (Map.Entry<String, Runnable> e : calls.entrySet()) {
            try {
                e.getValue().run();
                out.put(e.getKey(), "returned");
            } catch (IllegalStateException ex) {
                out.put(e.getKey(), classify(ex));
            }
        }
        return out;
    }

    /** Which rule refused a call: atomic context, the mmap-lock order, or waiting for itself. */
    static String classify(IllegalStateException ex) {
        String m = ex.getMessage();
        return m.contains("must not sleep") ? "atomic"
                : m.contains("no MMU-notifier callback may take an mmap lock") ? "lock order"
                : m.contains("would deadlock") ? "waits for itself" : m;
    }

    @Test
    void B38_inANonBlockableCallback_everyBlockingMethodFailsFast_butPutWorks() {
        MmStruct mm = new MmStruct();
        Map<String, String> outcome = new LinkedHashMap<>();
        Recorder.Ops ops = new Recorder.Ops("nb") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                if (!range.blockable() && outcome.isEmpty()) {
                    outcome.putAll(callEverything(mn, mm, this));
                }
                return true;
            }
        };
        Recorder mn = MmuNotifiers.get(ops, mm);
        Recorder ref = MmuNotifiers.get(ops, mm);
        MmuNotifierRange r = range(mm);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isTrue();
        assertThat(outcome).containsEntry("synchronize", "atomic")
                .containsEntry("unregister", "atomic")
                .containsEntry("get", "atomic")
                .containsEntry("getLocked", "atomic")
                .containsEntry("register", "atomic")
                .containsEntry("registerLocked", "atomic")
                .containsEntry("mmapWriteLock", "lock order")
                .containsEntry("mmapReadLock", "lock order")
                .containsEntry("blockable start", "atomic")
                .containsEntry("Srcu.synchronize", "atomic")
                .containsEntry("Srcu.barrier", "atomic")
                .containsEntry("last mmput", "atomic")
                .hasSize(12);
        assertThat(mn.users).as("nothing changed").isEqualTo(2);
        assertThat(mm.subscriptions.list).containsExactly(mn);
        assertThat(org.mmunotifier.srcu.ExecutionContext.current().depth()).isZero();
        assertThat(mn.open.get()).as("the refused nested start left nothing open").isEqualTo(1);
        PrimaryMmu.invalidateRangeEnd(r);
        MmuNotifiers.put(ref);
        MmuNotifiers.put(mn);
    }

    @Test
    void B38_putFromANonBlockableCallback_works() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("nbput") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                MmuNotifiers.put(mn);
                return true;
            }
        };
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifierRange r = range(mm);
        assertThat(PrimaryMmu.invalidateRangeStartNonblock(r)).isTrue();
        PrimaryMmu.invalidateRangeEnd(r);
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mn.ends.get()).isZero();
    }

    @Test
    void B38_inABlockableCallback_waitingForTheDomainAndTakingAnyMmapLockFail_butOtherBlockingCallsWork() {
        MmStruct mm = new MmStruct();
        MmStruct otherMm = new MmStruct();
        Map<String, String> outcome = new LinkedHashMap<>();
        Recorder.Ops ops = new Recorder.Ops("blk") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                if (outcome.isEmpty()) {
                    Map<String, Runnable> calls = new LinkedHashMap<>();
                    calls.put("synchronize", MmuNotifiers::synchronize);
                    calls.put("unregister", () -> MmuNotifiers.unregister(mn, mm));
                    calls.put("mmapReadLock", mm::mmapReadLock);
                    calls.put("mmapWriteLock", mm::mmapWriteLock);
                    calls.put("mmapReadLock of another mm", otherMm::mmapReadLock);
                    calls.put("get (takes the mmap lock)", () -> MmuNotifiers.get(this, otherMm));
                    calls.put("Srcu.synchronize of another domain", OTHER_DOMAIN::synchronize);
                    for (Map.Entry<String, Runnable> e : calls.entrySet()) {
                        try {
                            e.getValue().run();
                            outcome.put(e.getKey(), "returned");
                        } catch (IllegalStateException ex) {
                            outcome.put(e.getKey(), classify(ex));
                        }
                    }
                }
                return true;
            }
        };
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifiers.register(mn, mm);
        MmuNotifierRange r = range(mm);
        PrimaryMmu.invalidateRangeStart(r);
        PrimaryMmu.invalidateRangeEnd(r);
        // B-38 and the lock-order rule: the kernel's lockdep reports an mmap lock taken in any
        // callback, blockable or not (registration primes fs_reclaim -> invalidate_range_start).
        assertThat(outcome).containsExactly(
                Map.entry("synchronize", "waits for itself"),
                Map.entry("unregister", "waits for itself"),
                Map.entry("mmapReadLock", "lock order"),
                Map.entry("mmapWriteLock", "lock order"),
                Map.entry("mmapReadLock of another mm", "lock order"),
                Map.entry("get (takes the mmap lock)", "lock order"),
                Map.entry("Srcu.synchronize of another domain", "returned"));
        assertThat(mm.subscriptions.list).as("nothing changed").containsExactly(mn);
        assertThat(otherMm.hasNotifiers()).as("the refused get registered nothing").isFalse();
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        mm.mmapWriteLock(); // the refusals left both locks free
        mm.mmapWriteUnlock();
        otherMm.mmapWriteLock();
        otherMm.mmapWriteUnlock();
        MmuNotifiers.unregister(mn, mm);
        otherMm.mmput();
    }
}
