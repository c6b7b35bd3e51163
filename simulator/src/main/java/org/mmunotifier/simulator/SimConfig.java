package org.mmunotifier.simulator;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import org.mmunotifier.simulator.check.Inject;
import org.mmunotifier.simulator.kernel.KernelOrder;

/**
 * One simulation's parameters, validated. Built by {@link SimulatorCommand} from the defaults
 * file, a user file and the options; tests build it with {@link #defaults()} and the withers.
 *
 * @param durationMillis how long the workers run, unless {@code events} bounds the run
 * @param events primary-event budget per worker; 0 means the run is bounded by the duration
 * @param threads worker threads; with one, reclaim runs inline and a seeded run is deterministic
 * @param seed the random seed
 * @param processes target number of live processes
 * @param pages virtual pages per address space
 * @param frames physical frames
 * @param maxMapPages largest mmap, in pages
 * @param maxHandles most open device files per process
 * @param drivers the secondary MMUs that take part
 * @param inject the deliberate driver bug, or {@link Inject#NONE}
 * @param unload whether the accelerator driver unloads half-way through
 * @param check whether every secondary access is validated
 * @param order the simulated kernel's order of notifier calls ({@code 5.4} or {@code strict})
 * @param weights relative frequencies of the worker's events ({@link Op#events()})
 */
public record SimConfig(long durationMillis, long events, int threads, long seed, int processes, int pages, int frames,
        int maxMapPages, int maxHandles, Set<Driver> drivers, Inject inject, boolean unload, boolean check,
        KernelOrder order, Weights weights) {

    /** The secondary MMU drivers. */
    public enum Driver {
        GPU("gpu", "a GPU mirror: get/put per device context, start/end with a retry sequence (amdkfd, nouveau)"),
        KVM("kvm", "a KVM shadow page table: register/unregister per VM, start/end and the young callbacks"),
        IOMMU("iommu", "an ATS IOMMU TLB: get/put per bond, invalidateRange only, walks without the page-table lock"),
        ACCEL("accel", "an accelerator with getLocked under its own mmap lock (sgi-gru); unloads half-way"),
        DMIRROR("dmirror", "an HMM mirror on an interval notifier per device file, faulting with hmmRangeFault (lib/test_hmm.c); opt-in"),
        USERPTR("userptr", "the GPU mirror on interval notifiers: one subscription per buffer object over one area (amdgpu userptr); opt-in");

        final String cliName;
        /** One line for {@code --list}. */
        final String description;

        Driver(String cliName, String description) {
            this.cliName = cliName;
            this.description = description;
        }

        static Driver parse(String s) {
            for (Driver d : values()) {
                if (d.cliName.equalsIgnoreCase(s.trim())) {
                    return d;
                }
            }
            throw new IllegalArgumentException("unknown driver '" + s.trim() + "' (expected gpu, kvm, iommu, accel, dmirror or userptr)");
        }

        @Override
        public String toString() {
            return cliName;
        }
    }

    /**
     * Relative frequencies of the events a worker picks from: one weight for each of
     * {@link Op#events()}, and none for any other operation.
     *
     * @param byEvent the weights, by event (copied)
     */
    record Weights(Map<Op, Integer> byEvent) {
        Weights {
            EnumMap<Op, Integer> copy = new EnumMap<>(Op.class);
            copy.putAll(byEvent);
            if (!copy.keySet().equals(Set.copyOf(Op.events())) || copy.containsValue(null)) {
                throw new IllegalArgumentException("weights must be given for exactly the events " + Op.events()
                        + ", got " + copy);
            }
            byEvent = Collections.unmodifiableMap(copy);
        }

        /** @return the weights of the shipped defaults file */
        static Weights defaults() {
            Map<Op, Integer> m = new EnumMap<>(Op.class);
            for (Op op : Op.events()) {
                m.put(op, op.defaultWeight());
            }
            return new Weights(m);
        }

        /** @return the weight of {@code event} */
        int get(Op event) {
            Integer w = byEvent.get(event);
            if (w == null) {
                throw new IllegalArgumentException(event + " is not an event");
            }
            return w;
        }

        /** @return these weights with {@code event}'s set to {@code weight} */
        Weights with(Op event, int weight) {
            get(event);
            Map<Op, Integer> m = new EnumMap<>(byEvent);
            m.put(event, weight);
            return new Weights(m);
        }
    }

    /**
     * The shipped defaults file's values with seed 1 (tests start from these; a test in
     * SimulatorCommandTest keeps the two in step).
     */
    static SimConfig defaults() {
        return new SimConfig(15_000, 0, 2, 1, 64, 1024, 65_536, 16, 8,
                EnumSet.complementOf(EnumSet.of(Driver.DMIRROR, Driver.USERPTR)), Inject.NONE, true, true, KernelOrder.LINUX_5_4,
                Weights.defaults());
    }

    /**
     * Checks every value.
     *
     * @throws IllegalArgumentException naming the first impossible value
     */
    /** The largest weight of one event; with about twenty events their sum stays far below 2^31. */
    static final int MAX_WEIGHT = 1_000_000;

    /** The longest run accepted: 24 hours (larger values would overflow deadline arithmetic). */
    static final long MAX_DURATION_MILLIS = 24L * 3600 * 1000;

    public SimConfig {
        require(durationMillis > 0, "duration must be positive, got " + durationMillis + " ms");
        require(durationMillis <= MAX_DURATION_MILLIS, "duration must be at most 24h, got " + durationMillis + " ms");
        require(events >= 0, "events must not be negative, got " + events);
        require(threads >= 1 && threads <= 256, "threads must be between 1 and 256, got " + threads);
        require(processes >= 1 && processes <= 4096, "processes must be between 1 and 4096, got " + processes);
        require(pages >= 16 && pages <= 65_536, "pages must be between 16 and 65536, got " + pages);
        require(frames >= 1 && frames <= 1 << 26, "frames must be between 1 and 67108864, got " + frames);
        require(maxMapPages >= 1 && maxMapPages <= pages, "max-map-pages must be between 1 and pages (" + pages + "), got " + maxMapPages);
        require(maxHandles >= 1, "max-handles must be at least 1, got " + maxHandles);
        require(drivers != null && !drivers.isEmpty(), "at least one driver must take part");
        require(inject != null, "inject must be set");
        require(inject == Inject.NONE || drivers.contains(inject.driver()),
                "fault injection " + inject + " needs the " + inject.driver() + " driver");
        require(inject != Inject.UNLOAD_WITHOUT_PUT || unload, "fault injection " + inject + " needs unload = true");
        require(inject == Inject.NONE || check, "fault injection " + inject
                + " needs check = true: with the checker off nothing could catch it");
        require(order != null, "kernel order must be set");
        require(inject != Inject.KSM_WITHOUT_BRACKET || weights == null || weights.get(Op.KSM_MERGE) > 0,
                "fault injection " + inject + " needs KSM in the mix: give " + Op.KSM_MERGE.weightKey() + " a positive weight");
        require(inject != Inject.OOM_REAPER_UNPAIRED_END || weights == null || weights.get(Op.OOM_KILL) > 0,
                "fault injection " + inject + " needs OOM kills in the mix: give " + Op.OOM_KILL.weightKey() + " a positive weight");
        require(weights != null, "weights must be set");
        int sum = 0; // at most MAX_WEIGHT per event: the sum cannot overflow
        for (Op event : Op.events()) {
            int w = weights.get(event);
            require(w >= 0, event.weightKey() + " must not be negative, got " + w);
            require(w <= MAX_WEIGHT, event.weightKey() + " must be at most " + MAX_WEIGHT + ", got " + w);
            sum += w;
        }
        require(sum > 0, "the event weights must not all be zero");
        require(threads == 1 || sum - weights.get(Op.RECLAIM) > 0,
                "with more than one thread reclaim runs on kswapd: some weight other than "
                        + Op.RECLAIM.weightKey() + " must be positive");
        drivers = Set.copyOf(drivers);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    SimConfig withDuration(long millis) {
        return new SimConfig(millis, events, threads, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, order, weights);
    }

    SimConfig withEvents(long n) {
        return new SimConfig(durationMillis, n, threads, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, order, weights);
    }

    SimConfig withThreads(int n) {
        return new SimConfig(durationMillis, events, n, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, order, weights);
    }

    SimConfig withSeed(long s) {
        return new SimConfig(durationMillis, events, threads, s, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, order, weights);
    }

    SimConfig withProcesses(int n) {
        return new SimConfig(durationMillis, events, threads, seed, n, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, order, weights);
    }

    SimConfig withDrivers(Set<Driver> d) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, frames, maxMapPages, maxHandles, d, inject, unload, check, order, weights);
    }

    SimConfig withInject(Inject i) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, i, unload, check, order, weights);
    }

    SimConfig withUnload(boolean u) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, u, check, order, weights);
    }

    SimConfig withFrames(int n) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, n, maxMapPages, maxHandles, drivers, inject, unload, check, order, weights);
    }

    SimConfig withMaxHandles(int n) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, frames, maxMapPages, n, drivers, inject, unload, check, order, weights);
    }

    SimConfig withOrder(KernelOrder o) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, o, weights);
    }

    SimConfig withWeights(Weights w) {
        return new SimConfig(durationMillis, events, threads, seed, processes, pages, frames, maxMapPages, maxHandles, drivers, inject, unload, check, order, w);
    }
}
