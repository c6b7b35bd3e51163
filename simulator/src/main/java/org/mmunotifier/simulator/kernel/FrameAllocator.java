package org.mmunotifier.simulator.kernel;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Physical memory: a fixed set of page frames, each with a generation number and a map count.
 *
 * <p>A frame is handed out by {@link #allocate()} with a map count of one and a generation one
 * higher than it had before; {@link #get(int)} adds a mapping (fork sharing a page copy-on-write)
 * and {@link #put(int)} removes one. The frame goes back to the free pool only when its map count
 * reaches zero, so a frame is reused only after every mapping of it is gone, and its reuse is
 * visible to anyone who remembered the old (frame, generation) pair.
 */
public final class FrameAllocator {
    /*
     * Guards
     * ------
     *   mapCount[f]    atomic; 0 exactly while f sits in the free stack
     *   generation[f]  written by allocate() while f is owned by nobody (map count 0 -> 1);
     *                  read by the checker for a frame that is mapped in a page table whose
     *                  lock it holds, so the value is stable for the duration of that read
     *   pools[i]       pools[i].lock; a thread allocates from and frees to its own stripe
     *                  (thread id modulo STRIPES), and allocates from the others when it is empty
     *
     * Memory ordering
     * ---------------
     * allocate() writes the generation (volatile) before the caller installs the frame in a page
     * table under that table's lock; a validating reader takes the same lock, so it sees the
     * generation that the mapping was made with.
     */

    private static final int STRIPES = 8;

    private final int frames;
    private final AtomicIntegerArray mapCount;
    private final AtomicIntegerArray generation;
    private final Pool[] pools = new Pool[STRIPES];

    /** One stripe of the free pool: a stack of free frames under its own lock. */
    private static final class Pool {
        final ReentrantLock lock = new ReentrantLock();
        int[] stack;
        int top;

        Pool(int capacity) {
            stack = new int[capacity];
        }
    }

    public FrameAllocator(int frames) {
        if (frames <= 0) {
            throw new IllegalArgumentException("frames must be positive, got " + frames);
        }
        this.frames = frames;
        this.mapCount = new AtomicIntegerArray(frames);
        this.generation = new AtomicIntegerArray(frames);
        for (int i = 0; i < STRIPES; i++) {
            pools[i] = new Pool(frames);
        }
        // Deal the frames out over the stripes, low numbers on top.
        for (int f = frames - 1; f >= 0; f--) {
            Pool p = pools[f % STRIPES];
            p.stack[p.top++] = f;
        }
    }

    /** @return the number of frames */
    public int frames() {
        return frames;
    }

    private static int home() {
        return (int) Thread.currentThread().getId() & (STRIPES - 1);
    }

    /**
     * Takes a free frame, from the calling thread's stripe first, and bumps its generation.
     *
     * @return the frame number, mapped once, or -1 when no frame is free
     */
    public int allocate() {
        int h = home();
        int f = -1;
        for (int i = 0; i < STRIPES && f < 0; i++) {
            Pool p = pools[(h + i) & (STRIPES - 1)];
            p.lock.lock();
            try {
                if (p.top > 0) {
                    f = p.stack[--p.top];
                }
            } finally {
                p.lock.unlock();
            }
        }
        if (f < 0) {
            return -1;
        }
        generation.incrementAndGet(f);
        if (!mapCount.compareAndSet(f, 0, 1)) {
            throw new IllegalStateException("frame " + f + " was on the free list with map count " + mapCount.get(f));
        }
        return f;
    }

    /**
     * Adds a mapping of a frame that is already mapped (fork, copy-on-write sharing).
     *
     * @throws IllegalStateException if the frame is free: a mapping must come from a live one
     */
    void get(int frame) {
        int c;
        do {
            c = mapCount.get(frame);
            if (c <= 0) {
                throw new IllegalStateException("get of free frame " + frame);
            }
        } while (!mapCount.compareAndSet(frame, c, c + 1));
    }

    /**
     * Adds a mapping of {@code frame} if it is still the frame of generation {@code gen}, still
     * mapped: for a caller that remembered a frame without holding a mapping of it (KSM's stable
     * page). A frame freed and reused meanwhile is refused.
     *
     * @return true if the mapping was added
     */
    boolean tryGet(int frame, int gen) {
        int c;
        do {
            c = mapCount.get(frame);
            if (c <= 0) {
                return false;
            }
        } while (!mapCount.compareAndSet(frame, c, c + 1));
        if (generation.get(frame) != gen) { // freed and reused between the two reads: not ours
            put(frame);
            return false;
        }
        return true;
    }

    /**
     * Removes one mapping; the last one returns the frame to the calling thread's stripe.
     *
     * @return true if this was the last mapping and the frame is free now
     * @throws IllegalStateException if the frame is already free (a double free)
     */
    boolean put(int frame) {
        int c;
        do {
            c = mapCount.get(frame);
            if (c <= 0) {
                throw new IllegalStateException("put of free frame " + frame);
            }
        } while (!mapCount.compareAndSet(frame, c, c - 1));
        if (c == 1) {
            Pool p = pools[home()];
            p.lock.lock();
            try {
                p.stack[p.top++] = frame;
            } finally {
                p.lock.unlock();
            }
            return true;
        }
        return false;
    }

    /** @return the frame's generation now */
    public int generation(int frame) {
        return generation.get(frame);
    }

    /** @return the frame's map count now (0: free) */
    int mapCount(int frame) {
        return mapCount.get(frame);
    }

    /** @return the number of free frames now (a snapshot) */
    public int freeFrames() {
        int n = 0;
        for (Pool p : pools) {
            p.lock.lock();
            try {
                n += p.top;
            } finally {
                p.lock.unlock();
            }
        }
        return n;
    }
}
