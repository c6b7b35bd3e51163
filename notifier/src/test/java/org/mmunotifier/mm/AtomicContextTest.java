package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mmunotifier.srcu.ExecutionContext;
import org.mmunotifier.srcu.Srcu;

/**
 * The callbacks that Linux 5.4 runs under the page-table spinlock (invalidateRange, the young
 * callbacks, changePte) or from an SRCU callback (freeNotifier) run in atomic context here: every
 * blocking call from them throws, naming the callback and the call, and changes nothing; put
 * works. (might_sleep with CONFIG_DEBUG_ATOMIC_SLEEP, and lockdep for the mmap lock.)
 */
class AtomicContextTest extends NotifierTestBase {
    private static final Srcu OTHER_DOMAIN = new Srcu("atomic-test-other");

    /** Every blocking call of the library, tried from inside a callback; outcome per call. */
    private static Map<String, String> tryEveryBlockingCall(Recorder mn, MmStruct mm, Recorder.Ops ops) {
        MmStruct spare = new MmStruct(); // for the last mmput; exits outside the callback if refused
        Map<String, Runnable> calls = new LinkedHashMap<>();
        calls.put("mmapReadLock", mm::mmapReadLock);
        calls.put("mmapWriteLock", mm::mmapWriteLock);
        calls.put("register", () -> MmuNotifiers.register(new Recorder("x", ops), mm));
        calls.put("registerLocked", () -> MmuNotifiers.registerLocked(new Recorder("x", ops), mm));
        calls.put("get", () -> MmuNotifiers.get(ops, mm));
        calls.put("getLocked", () -> MmuNotifiers.getLocked(ops, mm));
        calls.put("unregister", () -> MmuNotifiers.unregister(mn, mm));
        calls.put("synchronize", MmuNotifiers::synchronize);
        calls.put("last mmput", spare::mmput);
        calls.put("Srcu.synchronize", OTHER_DOMAIN::synchronize);
        calls.put("Srcu.barrier", OTHER_DOMAIN::barrier);
        calls.put("blockable invalidateRangeStart", () -> PrimaryMmu.invalidateRangeStart(range(mm)));
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Runnable> e : calls.entrySet()) {
            try {
                e.getValue().run();
                out.put(e.getKey(), "returned");
            } catch (IllegalStateException ex) {
                out.put(e.getKey(), ex.getMessage());
            }
        }
        if (spare.users() == 1) {
            LEFT.add(spare);
        }
        return out;
    }

    private static final java.util.List<MmStruct> LEFT =
            java.util.Collections.synchronizedList(new java.util.ArrayList<>());

    private static void assertEveryCallRefused(Map<String, String> outcome, String callback) {
        assertThat(outcome).hasSize(12);
        outcome.forEach((call, msg) -> {
            assertThat(msg).as(call + " from " + callback).isNotEqualTo("returned");
            assertThat(msg).as(call + ": the message names the callback")
                    .contains("the " + callback + " callback");
            if (call.startsWith("mmap")) {
                assertThat(msg).as(call).contains("no MMU-notifier callback may take an mmap lock");
            } else {
                assertThat(msg).as(call).contains("must not sleep");
            }
        });
    }

    /** Runs {@code event} on an mm with one registered notifier whose {@code callback} runs {@code body}. */
    private Map<String, String> fromCallback(String callback, Consumer<MmStruct> event) {
        MmStruct mm = new MmStruct();
        Map<String, String> outcome = new LinkedHashMap<>();
        Recorder[] self = new Recorder[1];
        Recorder.Ops ops = new Recorder.Ops("atomic") {
            private void run(Recorder mn, MmStruct m) {
                if (outcome.isEmpty() && mn == self[0]) {
                    outcome.putAll(tryEveryBlockingCall(mn, m, this));
                }
            }

            @Override
            public void invalidateRange(Recorder mn, MmStruct m, long start, long end) {
                if (callback.equals("invalidateRange")) {
                    run(mn, m);
                }
            }

            @Override
            public boolean clearFlushYoung(Recorder mn, MmStruct m, long start, long end) {
                if (callback.equals("clearFlushYoung")) {
                    run(mn, m);
                }
                return false;
            }

            @Override
            public boolean clearYoung(Recorder mn, MmStruct m, long start, long end) {
                if (callback.equals("clearYoung")) {
                    run(mn, m);
                }
                return false;
            }

            @Override
            public boolean testYoung(Recorder mn, MmStruct m, long address) {
                if (callback.equals("testYoung")) {
                    run(mn, m);
                }
                return false;
            }

            @Override
            @SuppressWarnings("deprecation")
            public void changePte(Recorder mn, MmStruct m, long address, long pte) {
                if (callback.equals("changePte")) {
                    run(mn, m);
                }
            }
        };
        self[0] = track(new Recorder("a", ops));
        MmuNotifiers.register(self[0], mm);
        int count = mm.count();
        event.accept(mm);
        // nothing changed: still registered once, no lock held, no frame left open
        assertThat(mm.subscriptions.list).containsExactly(self[0]);
        assertThat(mm.count()).isEqualTo(count);
        assertThat(mm.mmapWriteLockedByCurrentThread()).isFalse();
        assertThat(ExecutionContext.current().depth()).isZero();
        mm.mmapWriteLock(); // the lock is free
        mm.mmapWriteUnlock();
        MmuNotifiers.unregister(self[0], mm);
        synchronized (LEFT) {
            LEFT.forEach(MmStruct::mmput);
            LEFT.clear();
        }
        return outcome;
    }

    @ParameterizedTest
    @ValueSource(strings = {"invalidateRange", "clearFlushYoung", "clearYoung", "testYoung", "changePte"})
    @SuppressWarnings("deprecation")
    void pageTableLockCallbacks_refuseEveryBlockingCall_andChangeNothing(String callback) {
        Map<String, String> outcome = fromCallback(callback, mm -> {
            switch (callback) {
                case "invalidateRange":
                    PrimaryMmu.invalidateRange(mm, 0x1000, 0x2000);
                    break;
                case "clearFlushYoung":
                    PrimaryMmu.clearFlushYoung(mm, 0x1000, 0x2000);
                    break;
                case "clearYoung":
                    PrimaryMmu.clearYoung(mm, 0x1000, 0x2000);
                    break;
                case "testYoung":
                    PrimaryMmu.testYoung(mm, 0x1000);
                    break;
                default:
                    PrimaryMmu.changePte(mm, 0x1000, 7);
            }
        });
        assertEveryCallRefused(outcome, callback);
    }

    @Test
    void invalidateRange_runFromTheEndOfABlockableRange_isStillAtomic_butTheEndItselfIsNot() {
        Map<String, String> outcome = fromCallback("invalidateRange", mm -> {
            MmuNotifierRange r = range(mm);
            PrimaryMmu.invalidateRangeStart(r);
            PrimaryMmu.invalidateRangeEnd(r);
        });
        assertEveryCallRefused(outcome, "invalidateRange");
    }

    @Test
    void freeNotifier_isAtomic_blockingCallsThrow_andThePutsOfOtherNotifiersWork() {
        MmStruct mm = new MmStruct();
        Map<String, String> outcome = new LinkedHashMap<>();
        Recorder.Ops other = trackingOps("other");
        Recorder held = MmuNotifiers.get(other, mm);
        Recorder.Ops ops = new Recorder.Ops("free") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            void onFree(Recorder mn) {
                Map<String, String> o = new LinkedHashMap<>();
                for (Map.Entry<String, Runnable> e : Map.<String, Runnable>of(
                        "mmapReadLock", mm::mmapReadLock,
                        "get", () -> MmuNotifiers.get(other, mm),
                        "synchronize", MmuNotifiers::synchronize,
                        "Srcu.synchronize", OTHER_DOMAIN::synchronize).entrySet()) {
                    try {
                        e.getValue().run();
                        o.put(e.getKey(), "returned");
                    } catch (IllegalStateException ex) {
                        o.put(e.getKey(), ex.getMessage());
                    }
                }
                MmuNotifiers.put(held); // put is allowed from any context
                o.put("put", "returned");
                synchronized (outcome) {
                    outcome.putAll(o);
                }
            }
        };
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifiers.put(mn);
        MmuNotifiers.synchronize(); // the free of mn has run, and queued the free of 'held'
        MmuNotifiers.synchronize(); // which a barrier begun before it was queued need not wait for
        synchronized (outcome) {
            assertThat(outcome).containsEntry("put", "returned").hasSize(5);
            assertThat(outcome.get("mmapReadLock")).contains("the freeNotifier callback")
                    .contains("may take an mmap lock");
            assertThat(outcome.get("get")).contains("MmuNotifiers.get called from the freeNotifier callback")
                    .contains("must not sleep");
            assertThat(outcome.get("synchronize")).contains("the freeNotifier callback").contains("must not sleep");
            assertThat(outcome.get("Srcu.synchronize")).contains("the freeNotifier callback").contains("must not sleep");
        }
        assertThat(held.frees.get()).as("the put from freeNotifier freed the other notifier").isEqualTo(1);
        assertThat(mm.count()).isEqualTo(1);
        mm.mmput();
    }

    @Test
    void put_isAllowedFromEveryAtomicCallback() {
        MmStruct mm = new MmStruct();
        Recorder.Ops ops = new Recorder.Ops("putter") {
            @Override
            public Recorder allocNotifier(MmStruct m) {
                return track(super.allocNotifier(m));
            }

            @Override
            public void invalidateRange(Recorder mn, MmStruct m, long start, long end) {
                super.invalidateRange(mn, m, start, end);
                MmuNotifiers.put(mn);
            }
        };
        Recorder mn = MmuNotifiers.get(ops, mm);
        MmuNotifiers.get(ops, mm);
        PrimaryMmu.invalidateRange(mm, 0, 0x1000); // put 1 of 2
        PrimaryMmu.invalidateRange(mm, 0, 0x1000); // the last put, from inside the callback
        MmuNotifiers.synchronize();
        assertThat(mn.frees.get()).isEqualTo(1);
        assertThat(mm.subscriptions.list).isEmpty();
        mm.mmput();
    }
}
