package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** B-36 .. B-38: list locking, mm_count pairing, what callbacks may call. */
class LockingContextTest extends NotifierTestBase {

    @Test
    void B36_aWalkInProgress_usesItsSnapshot_whileTheListChangesUnderIt() {
        MmStruct mm = new MmStruct();
        List<String> called = new ArrayList<>();
        Recorder[] added = new Recorder[1];
        Recorder.Ops ops = new Recorder.Ops("snap") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(new Recorder("old", this));
            }

            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                called.add(mn.name);
                if (mn.name.equals("newest")) {
                    MmuNotifier.put(mn.mm().subscriptions.list[1]); // last put of "old", mid-walk
                    added[0] = track(new Recorder("added", this));
                    MmuNotifier.register(added[0], mn.mm()); // a registration mid-walk
                }
                return true;
            }
        };
        Recorder old = MmuNotifier.get(ops, mm);
        Recorder newest = track(new Recorder("newest", ops));
        MmuNotifier.register(newest, mm);
        MmuNotifierRange r = range(mm);
        MmuNotifier.invalidateRangeStart(r);
        assertThat(called).as("the put notifier is still called; the new one is not").containsExactly("newest", "old");
        MmuNotifier.invalidateRangeEnd(r);
        assertThat(old.ends.get()).as("unlinked before the end").isZero();
        assertThat(added[0].ends.get()).as("registered after the start").isZero();
        assertThat(newest.ends.get()).isEqualTo(1);
        assertThat(mm.subscriptions.list).containsExactly(added[0], newest);
        MmuNotifier.unregister(newest, mm);
        MmuNotifier.unregister(added[0], mm);
        MmuNotifier.synchronize();
        assertThat(old.frees.get()).isEqualTo(1);
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
        MmuNotifier.register(reg, mm);
        assertThat(mm.count()).as("register: mmgrab").isEqualTo(2);
        Recorder.Ops other = new Recorder.Ops("other") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }
        };
        Recorder g = MmuNotifier.get(other, mm);
        assertThat(mm.count()).as("get with alloc: mmgrab").isEqualTo(3);
        MmuNotifier.get(other, mm);
        assertThat(mm.count()).as("get that finds: nothing").isEqualTo(3);
        MmuNotifier.put(g);
        assertThat(mm.count()).as("put that is not the last: nothing").isEqualTo(3);
        int idx = NotifierDomain.SRCU.readLock();
        try {
            MmuNotifier.put(g);
            assertThat(mm.count()).as("last put: mmdrop only after the grace period").isEqualTo(3);
        } finally {
            NotifierDomain.SRCU.readUnlock(idx);
        }
        MmuNotifier.synchronize();
        assertThat(mm.count()).isEqualTo(2);
        MmuNotifier.unregister(reg, mm);
        assertThat(mm.count()).as("unregister: mmdrop").isEqualTo(1);
    }

    /** Calls every blocking method of the library from inside a callback; records the outcome. */
    private static Map<String, String> callEverything(Recorder mn, MmStruct mm, Recorder.Ops ops) {
        Map<String, String> out = new LinkedHashMap<>();
        Map<String, Runnable> calls = new LinkedHashMap<>();
        calls.put("synchronize", MmuNotifier::synchronize);
        calls.put("unregister", () -> MmuNotifier.unregister(mn, mm));
        calls.put("get", () -> MmuNotifier.get(ops, mm));
        calls.put("getLocked", () -> MmuNotifier.getLocked(ops, mm));
        calls.put("register", () -> MmuNotifier.register(new Recorder("x", ops), mm));
        calls.put("registerLocked", () -> MmuNotifier.registerLocked(new Recorder("x", ops), mm));
        calls.put("mmapWriteLock", mm::mmapWriteLock);
        calls.put("mmapReadLock", mm::mmapReadLock);
        calls.put("blockable start", () -> MmuNotifier.invalidateRangeStart(range(mm)));
        for (Map.Entry<String, Runnable> e : calls.entrySet()) {
            try {
                e.getValue().run();
                out.put(e.getKey(), "returned");
            } catch (IllegalStateException ex) {
                out.put(e.getKey(), ex.getMessage().contains("non-blockable") ? "non-blockable"
                        : ex.getMessage().contains("callback") ? "callback" : ex.getMessage());
            }
        }
        return out;
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
        Recorder mn = MmuNotifier.get(ops, mm);
        Recorder ref = MmuNotifier.get(ops, mm);
        MmuNotifierRange r = range(mm);
        assertThat(MmuNotifier.invalidateRangeStartNonblock(r)).isTrue();
        assertThat(outcome).containsEntry("synchronize", "non-blockable")
                .containsEntry("unregister", "non-blockable")
                .containsEntry("get", "non-blockable")
                .containsEntry("getLocked", "non-blockable")
                .containsEntry("register", "non-blockable")
                .containsEntry("registerLocked", "non-blockable")
                .containsEntry("mmapWriteLock", "non-blockable")
                .containsEntry("mmapReadLock", "non-blockable")
                .containsEntry("blockable start", "non-blockable")
                .hasSize(9);
        assertThat(mn.users).as("nothing changed").isEqualTo(2);
        assertThat(mm.subscriptions.list).containsExactly(mn);
        assertThat(NotifierDomain.CONTEXT.get().nonBlock).isZero();
        assertThat(mn.open.get()).as("the refused nested start left nothing open").isEqualTo(1);
        MmuNotifier.invalidateRangeEnd(r);
        MmuNotifier.put(ref);
        MmuNotifier.put(mn);
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
                MmuNotifier.put(mn);
                return true;
            }
        };
        Recorder mn = MmuNotifier.get(ops, mm);
        MmuNotifierRange r = range(mm);
        assertThat(MmuNotifier.invalidateRangeStartNonblock(r)).isTrue();
        MmuNotifier.invalidateRangeEnd(r);
        MmuNotifier.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mn.ends.get()).isZero();
    }

    @Test
    void B38_inABlockableCallback_waitingForTheDomainFails_butLocksMayBeTaken() {
        MmStruct mm = new MmStruct();
        Map<String, String> outcome = new LinkedHashMap<>();
        Recorder.Ops ops = new Recorder.Ops("blk") {
            @Override
            boolean onStart(Recorder mn, MmuNotifierRange range) {
                if (outcome.isEmpty()) {
                    Map<String, Runnable> calls = new LinkedHashMap<>();
                    calls.put("synchronize", MmuNotifier::synchronize);
                    calls.put("unregister", () -> MmuNotifier.unregister(mn, mm));
                    calls.put("mmapReadLock", () -> {
                        mm.mmapReadLock();
                        mm.mmapReadUnlock();
                    });
                    for (Map.Entry<String, Runnable> e : calls.entrySet()) {
                        try {
                            e.getValue().run();
                            outcome.put(e.getKey(), "returned");
                        } catch (IllegalStateException ex) {
                            outcome.put(e.getKey(), ex.getMessage().contains("from an MMU-notifier callback")
                                    ? "callback" : ex.getMessage());
                        }
                    }
                }
                return true;
            }
        };
        Recorder mn = track(new Recorder("a", ops));
        MmuNotifier.register(mn, mm);
        MmuNotifierRange r = range(mm);
        MmuNotifier.invalidateRangeStart(r);
        MmuNotifier.invalidateRangeEnd(r);
        assertThat(outcome).containsExactly(
                Map.entry("synchronize", "callback"),
                Map.entry("unregister", "callback"),
                Map.entry("mmapReadLock", "returned"));
        MmuNotifier.unregister(mn, mm);
    }
}
