package org.mmunotifier.mm;

/**
 * An interval tree of closed intervals {@code [start, last]} of unsigned 64-bit addresses (the
 * role of Linux's {@code rb_root_cached} interval tree in {@code mm/mmu_notifier.c} since 5.5):
 * a treap ordered by {@code (start, insertion number)}, each node augmented with the largest
 * {@code last} of its subtree. Insert and remove cost O(log n) expected; an overlap query costs
 * O(log n + k) for k overlapping intervals, and a query that finds nothing costs one descent.
 *
 * <p>Not thread-safe: {@link Itree} guards it (writes under its monitor; reads without the
 * monitor only while the sequence is odd, when no write can happen).
 *
 * @param <V> the value a node carries (the subscription)
 */
final class IntervalTree<V> {
    /*
     * Representation
     * --------------
     * Addresses are unsigned; every bound is stored with its sign bit flipped (x ^ Long.MIN_VALUE),
     * so that the signed comparisons below order them as unsigned values. Priorities come from a
     * mix of the insertion number (a fixed function, so a run is reproducible): a max-heap on
     * priority keeps the expected depth logarithmic whatever the insertion order.
     *
     * Pruning of a query [lo, hi] at a node n (all biased):
     *   n == null or n.maxLast < lo  -> nothing in this subtree reaches lo: stop
     *   go left                      (left keys are smaller; they may overlap)
     *   n.start > hi                 -> n and its whole right subtree begin after hi: stop
     *   n.last >= lo                 -> n overlaps
     *   go right
     * A descent that finds nothing stops at the first node whose subtree cannot overlap; each
     * reported node costs O(log n) extra at most, hence O(log n + k).
     */

    /** A node of the tree; a subscription keeps its own node while it is in the tree. */
    static final class Node<V> {
        final V value;
        final long start; // biased
        final long last;  // biased
        final long seqNo; // tie-breaker among equal starts: insertion order
        final int priority;
        long maxLast;     // biased; max of last over this subtree
        Node<V> left;
        Node<V> right;

        Node(V value, long start, long last, long seqNo) {
            this.value = value;
            this.start = start ^ Long.MIN_VALUE;
            this.last = last ^ Long.MIN_VALUE;
            this.seqNo = seqNo;
            this.priority = mix(seqNo);
            this.maxLast = this.last;
        }

        /** @return the interval's first address (unbiased) */
        long start() {
            return start ^ Long.MIN_VALUE;
        }

        /** @return the interval's last address, inclusive (unbiased) */
        long last() {
            return last ^ Long.MIN_VALUE;
        }
    }

    /** What a query calls for each overlapping value; false stops the query. */
    @FunctionalInterface
    interface Visitor<V> {
        boolean visit(V value);
    }

    private Node<V> root;
    private int size;
    private long nextSeqNo;
    /**
     * Counts structural changes. A walk compares it before and after and reports a change as a
     * failure (the tree must not change under a walk: a library bug). Guarded as the tree.
     */
    int modCount;

    /** @return the number of intervals in the tree */
    int size() {
        return size;
    }

    /**
     * Adds {@code [start, last]} (unsigned, {@code start <= last}) carrying {@code value}.
     *
     * @return the new node: pass it to {@link #remove(Node)}
     */
    Node<V> insert(V value, long start, long last) {
        Node<V> n = new Node<>(value, start, last, nextSeqNo++);
        modCount++;
        root = insert(root, n);
        size++;
        return n;
    }

    /** Removes {@code n}, a node of this tree. @throws IllegalArgumentException if it is not in it */
    void remove(Node<V> n) {
        int before = size;
        modCount++;
        root = remove(root, n);
        if (size == before) {
            throw new IllegalArgumentException("interval node not in this tree");
        }
    }

    /** @return whether some interval overlaps {@code [lo, hi]} (unsigned, {@code lo <= hi}): one descent */
    boolean anyOverlap(long lo, long hi) {
        long l = lo ^ Long.MIN_VALUE;
        long h = hi ^ Long.MIN_VALUE;
        Node<V> n = root;
        while (n != null && n.maxLast >= l) {
            Node<V> left = n.left;
            if (left != null && left.maxLast >= l) {
                // Some interval on the left reaches lo, and every left start is <= n.start. If
                // n.start <= hi, that interval starts <= hi too: the left holds an overlap. If
                // n.start > hi, n and its right subtree cannot overlap. Either way the answer
                // is the left subtree's.
                n = left;
                continue;
            }
            if (n.start > h) {
                return false; // n and all of its right subtree begin after hi; the left cannot reach lo
            }
            if (n.last >= l) {
                return true;
            }
            n = n.right;
        }
        return false;
    }

    /**
     * Calls {@code visitor} on every value whose interval overlaps {@code [lo, hi]} (unsigned,
     * {@code lo <= hi}), in start order, until it returns false.
     *
     * @return false if the visitor stopped the query, true otherwise
     */
    boolean forEachOverlap(long lo, long hi, Visitor<? super V> visitor) {
        return visit(root, lo ^ Long.MIN_VALUE, hi ^ Long.MIN_VALUE, visitor);
    }

    private static <V> boolean visit(Node<V> n, long l, long h, Visitor<? super V> visitor) {
        while (n != null && n.maxLast >= l) {
            if (!visit(n.left, l, h, visitor)) {
                return false;
            }
            if (n.start > h) {
                return true;
            }
            if (n.last >= l && !visitor.visit(n.value)) {
                return false;
            }
            n = n.right; // tail call as a loop
        }
        return true;
    }

    // ------------------------------------------------------------------ treap mechanics

    private static boolean less(Node<?> a, Node<?> b) {
        return a.start < b.start || (a.start == b.start && a.seqNo < b.seqNo);
    }

    private static <V> Node<V> insert(Node<V> t, Node<V> n) {
        if (t == null) {
            return n;
        }
        if (less(n, t)) {
            t.left = insert(t.left, n);
            if (t.left.priority > t.priority) {
                t = rotateRight(t);
            }
        } else {
            t.right = insert(t.right, n);
            if (t.right.priority > t.priority) {
                t = rotateLeft(t);
            }
        }
        update(t);
        return t;
    }

    private Node<V> remove(Node<V> t, Node<V> n) {
        if (t == null) {
            return null;
        }
        if (t == n) {
            size--;
            Node<V> merged = merge(t.left, t.right);
            t.left = null;
            t.right = null;
            return merged;
        }
        if (less(n, t)) {
            t.left = remove(t.left, n);
        } else {
            t.right = remove(t.right, n);
        }
        update(t);
        return t;
    }

    /** Joins two treaps where every key of {@code a} is below every key of {@code b}. */
    private static <V> Node<V> merge(Node<V> a, Node<V> b) {
        if (a == null) {
            return b;
        }
        if (b == null) {
            return a;
        }
        if (a.priority > b.priority) {
            a.right = merge(a.right, b);
            update(a);
            return a;
        }
        b.left = merge(a, b.left);
        update(b);
        return b;
    }

    private static <V> Node<V> rotateRight(Node<V> t) {
        Node<V> l = t.left;
        t.left = l.right;
        l.right = t;
        update(t);
        update(l);
        return l;
    }

    private static <V> Node<V> rotateLeft(Node<V> t) {
        Node<V> r = t.right;
        t.right = r.left;
        r.left = t;
        update(t);
        update(r);
        return r;
    }

    private static void update(Node<?> t) {
        long m = t.last;
        if (t.left != null && t.left.maxLast > m) {
            m = t.left.maxLast;
        }
        if (t.right != null && t.right.maxLast > m) {
            m = t.right.maxLast;
        }
        t.maxLast = m;
    }

    /** A 32-bit mix of a 64-bit number (the finalizer of SplitMix64, folded). */
    private static int mix(long x) {
        x = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9L;
        x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL;
        x = x ^ (x >>> 31);
        return (int) (x ^ (x >>> 32));
    }

    /** For tests: checks the treap's invariants (key order, heap order, maxLast). */
    void checkInvariants() {
        int[] count = {0};
        check(root, null, null, count);
        if (count[0] != size) {
            throw new AssertionError("size " + size + " but " + count[0] + " nodes");
        }
    }

    private static <V> long check(Node<V> t, Node<V> lowerBound, Node<V> upperBound, int[] count) {
        if (t == null) {
            return Long.MIN_VALUE;
        }
        count[0]++;
        if (lowerBound != null && less(t, lowerBound) || upperBound != null && !less(t, upperBound)) {
            throw new AssertionError("key order broken");
        }
        if (t.left != null && t.left.priority > t.priority || t.right != null && t.right.priority > t.priority) {
            throw new AssertionError("heap order broken");
        }
        long m = Math.max(t.last, Math.max(check(t.left, lowerBound, t, count), check(t.right, t, upperBound, count)));
        if (m != t.maxLast) {
            throw new AssertionError("maxLast broken");
        }
        return m;
    }
}
