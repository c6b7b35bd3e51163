package org.mmunotifier.simulator.driver;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.mmunotifier.simulator.Stats;
import org.mmunotifier.simulator.check.Checker;
import org.mmunotifier.simulator.kernel.Kernel;
import org.mmunotifier.simulator.kernel.Process;

/**
 * A secondary MMU driver: attaches to processes through device files ({@link Handle}s), makes
 * device accesses through its own cached translations, and keeps those coherent through the
 * notifier callbacks. Each subclass is a real client of {@code org.mmunotifier.mm}.
 *
 * <p>Counters are {@link LongAdder}s: callbacks run on any thread.
 */
public abstract class SecondaryMmu {
    public final String name;
    final Kernel kernel;
    final Checker checker;
    /** The injected fault-path bug: checks the retry condition before taking the mirror lock. */
    boolean retryCheckBeforeLock;
    /** The injected OOM-reaper bug: a non-blockable start takes the mirror lock as a sleeping lock. */
    boolean blocksInNonblockableStart;

    final LongAdder attaches = new LongAdder();
    final LongAdder detaches = new LongAdder();
    final LongAdder gets = new LongAdder();
    final LongAdder puts = new LongAdder();
    final LongAdder registers = new LongAdder();
    final LongAdder unregisters = new LongAdder();
    final LongAdder allocated = new LongAdder();
    final LongAdder freed = new LongAdder();
    final LongAdder accesses = new LongAdder();
    final LongAdder deviceFaults = new LongAdder();
    final LongAdder retries = new LongAdder();
    final LongAdder invalidations = new LongAdder();
    /** Invalidations received that found no translation of the driver's to drop in their range. */
    final LongAdder emptyInvalidations = new LongAdder();
    final LongAdder youngCalls = new LongAdder();
    final LongAdder releases = new LongAdder();

    /**
     * Latencies measured where no per-thread {@link Stats} is at hand (callbacks, the SRCU
     * callback thread's {@code freeNotifier}); guarded by itself. Rare events only.
     */
    private final Stats callbackLatencies = new Stats();

    /** Every handle not yet closed, so that an unload can close them all. */
    final Set<Handle> open = ConcurrentHashMap.newKeySet();

    SecondaryMmu(String name, Kernel kernel) {
        this.name = name;
        this.kernel = kernel;
        this.checker = kernel.checker;
    }

    /**
     * Opens one more attachment to {@code p}, taking one reference (get or register).
     *
     * <p><b>Context:</b> the caller has pinned {@code p} and holds its files lock; may block on
     * the mmap lock.
     * @return the handle, or null when the driver refuses (unloading, process dying)
     */
    public abstract Handle open(Process p, Stats st);

    /**
     * Drops the reference a handle owns; does nothing if it was closed already.
     *
     * <p><b>Context:</b> no lock held; may block (unregister waits for a grace period).
     */
    public abstract void close(Handle h, Stats st);

    /**
     * One device access to page {@code vpage} of {@code p} through handle {@code h}: uses the
     * cached translation if there is one (validated by the checker), else faults it in through
     * the primary.
     *
     * <p><b>Context:</b> the caller has pinned {@code p}; no lock held.
     * @return true if the access completed, false if it was refused (no mapping, no permission,
     *     the process is exiting, or the translation kept changing)
     */
    public abstract boolean access(Handle h, int vpage, boolean write, Stats st);

    /**
     * @return true if the driver's attachments live long (VMs), so that detach events close them
     *     only rarely; their teardown (unregister) waits for a grace period
     */
    public boolean longLived() {
        return false;
    }

    /** @return true once the driver has unloaded: none of its callbacks may run any more */
    public boolean unloaded() {
        return false;
    }

    /** Closes every handle still open (the end of a run), as if each process closed it. */
    public final void closeAll(Stats st) {
        for (Handle h : open.toArray(new Handle[0])) {
            close(h, st);
        }
    }

    /** @return notifiers this driver has allocated so far */
    public final long notifiersAllocated() {
        return allocated.sum();
    }

    /** @return notifiers this driver has freed so far */
    public final long notifiersFreed() {
        return freed.sum();
    }

    /** Registers a handle as open with the driver. */
    final Handle track(Handle h) {
        open.add(h);
        attaches.increment();
        return h;
    }

    /** @return true for the one caller that must drop the handle's reference */
    final boolean untrack(Handle h) {
        if (!h.tryClose()) {
            return false;
        }
        open.remove(h);
        detaches.increment();
        return true;
    }

    /** Records a latency measured on any thread (a callback, a put made inside one). */
    final void recordShared(Stats.Latency which, long nanos) {
        synchronized (callbackLatencies) {
            callbackLatencies.record(which, nanos);
        }
    }

    /**
     * Adds the latencies this driver measured in callbacks (release, the deferred free, the puts
     * made inside release) to {@code total}.
     */
    public final void addCallbackLatenciesTo(Stats total) {
        synchronized (callbackLatencies) {
            total.add(callbackLatencies);
        }
    }

    /** The driver's counters, for the report. */
    public Map<String, Long> counters() {
        Map<String, Long> m = new java.util.LinkedHashMap<>();
        m.put("attaches", attaches.sum());
        m.put("detaches", detaches.sum());
        m.put("gets", gets.sum());
        m.put("puts", puts.sum());
        m.put("registers", registers.sum());
        m.put("unregisters", unregisters.sum());
        m.put("notifiersAllocated", allocated.sum());
        m.put("notifiersFreed", freed.sum());
        m.put("accesses", accesses.sum());
        m.put("deviceFaults", deviceFaults.sum());
        m.put("retries", retries.sum());
        m.put("invalidations", invalidations.sum());
        m.put("emptyInvalidations", emptyInvalidations.sum());
        m.put("youngCallbacks", youngCalls.sum());
        m.put("releases", releases.sum());
        return m;
    }
}
