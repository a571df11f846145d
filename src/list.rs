//! The intrusive doubly linked LRU list.
//!
//! Entries live in a dense slab; each carries its [`Links`] (see [`Linked`]): the `u32` slab
//! indices of its neighbours, and a tag. `prev` points towards the most recently used end (the
//! head), `next` towards the least recently used end (the tail). [`NIL`] ends the list.

/// The index that stands for "no entry".
pub(crate) const NIL: u32 = u32::MAX;

/// The neighbours of one entry, and a 32-bit tag that the list carries for its owner (the
/// shard keeps the key's hash there, so that evicting the tail reads one line, not two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) tag: u32,
}

impl Links {
    pub(crate) const fn unlinked(tag: u32) -> Links {
        Links {
            prev: NIL,
            next: NIL,
            tag,
        }
    }

    fn is_unlinked(&self) -> bool {
        self.prev == NIL && self.next == NIL
    }
}

/// A slab element that carries its links.
pub(crate) trait Linked {
    fn links(&self) -> &Links;
    fn links_mut(&mut self) -> &mut Links;
}

/// Bare links make a slab of their own in the list's tests.
#[cfg(test)]
impl Linked for Links {
    #[inline]
    fn links(&self) -> &Links {
        self
    }
    #[inline]
    fn links_mut(&mut self) -> &mut Links {
        self
    }
}

/// Head and tail of the list; the slab (whose elements carry their [`Links`]) is passed to every
/// method.
#[derive(Debug)]
pub(crate) struct List {
    head: u32,
    tail: u32,
}

impl List {
    pub(crate) const fn new() -> Self {
        List {
            head: NIL,
            tail: NIL,
        }
    }

    /// The most recently used entry, or [`NIL`].
    #[inline]
    pub(crate) fn head(&self) -> u32 {
        self.head
    }

    /// The least recently used entry, or [`NIL`].
    #[inline]
    pub(crate) fn tail(&self) -> u32 {
        self.tail
    }

    /// Links the unlinked node `i` at the head.
    #[inline]
    pub(crate) fn push_front(&mut self, links: &mut [impl Linked], i: u32) {
        debug_assert_ne!(i, NIL);
        debug_assert!(links[i as usize].links().is_unlinked());
        let old = self.head;
        links[i as usize].links_mut().prev = NIL;
        links[i as usize].links_mut().next = old;
        if old == NIL {
            debug_assert_eq!(self.tail, NIL);
            self.tail = i;
        } else {
            debug_assert_eq!(links[old as usize].links().prev, NIL);
            links[old as usize].links_mut().prev = i;
        }
        self.head = i;
    }

    /// Takes node `i` out of the list and leaves it unlinked.
    #[inline]
    pub(crate) fn unlink(&mut self, links: &mut [impl Linked], i: u32) {
        let Links { prev, next, .. } = *links[i as usize].links();
        if prev == NIL {
            debug_assert_eq!(self.head, i);
            self.head = next;
        } else {
            debug_assert_eq!(links[prev as usize].links().next, i);
            links[prev as usize].links_mut().next = next;
        }
        self.bypass_after(links, i, prev, next);
        links[i as usize].links_mut().prev = NIL;
        links[i as usize].links_mut().next = NIL;
    }

    /// Node `i`, between `prev` and `next`, is leaving: `next` (or the tail) now follows
    /// `prev` instead.
    #[inline]
    fn bypass_after(&mut self, links: &mut [impl Linked], i: u32, prev: u32, next: u32) {
        if next == NIL {
            debug_assert_eq!(self.tail, i);
            self.tail = prev;
        } else {
            debug_assert_eq!(links[next as usize].links().prev, i);
            links[next as usize].links_mut().prev = prev;
        }
    }

    /// Makes node `i` (linked in this list) the most recently used. One pass: the node's links
    /// are read once and written once, and its old neighbours and the old head once each.
    #[inline]
    pub(crate) fn move_to_front(&mut self, links: &mut [impl Linked], i: u32) {
        let head = self.head;
        if head == i {
            return;
        }
        let node = links[i as usize].links_mut();
        let Links { prev, next, .. } = *node;
        // Not the head, so it has a predecessor, and the list a head.
        debug_assert!(prev != NIL && head != NIL);
        node.prev = NIL;
        node.next = head;
        links[prev as usize].links_mut().next = next;
        self.bypass_after(links, i, prev, next);
        // The old head (possibly `prev`, whose `next` was set above) now follows `i`.
        links[head as usize].links_mut().prev = i;
        self.head = i;
    }

    /// The linked node that lived elsewhere now lives at `to` (the slab moved it): points its
    /// neighbours, or the head and tail, at its new index.
    #[inline]
    pub(crate) fn relocated(&mut self, links: &mut [impl Linked], to: u32) {
        let Links { prev, next, .. } = *links[to as usize].links();
        if prev == NIL {
            self.head = to;
        } else {
            links[prev as usize].links_mut().next = to;
        }
        if next == NIL {
            self.tail = to;
        } else {
            links[next as usize].links_mut().prev = to;
        }
    }

    /// Indices from the least to the most recently used.
    pub(crate) fn iter_lru<'a, N: Linked>(&self, links: &'a [N]) -> impl Iterator<Item = u32> + 'a {
        let mut cur = self.tail;
        std::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let i = cur;
            cur = links[i as usize].links().prev;
            Some(i)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(list: &List, links: &[Links]) -> Vec<u32> {
        list.iter_lru(links).collect()
    }

    #[test]
    fn push_move_unlink() {
        let mut nodes = vec![Links::unlinked(0); 4];
        let mut list = List::new();
        for i in 0..4 {
            list.push_front(&mut nodes, i);
        }
        assert_eq!(order(&list, &nodes), [0, 1, 2, 3]);
        list.move_to_front(&mut nodes, 0);
        assert_eq!(order(&list, &nodes), [1, 2, 3, 0]);
        list.move_to_front(&mut nodes, 2);
        assert_eq!(order(&list, &nodes), [1, 3, 0, 2]);
        list.unlink(&mut nodes, 1);
        assert_eq!(order(&list, &nodes), [3, 0, 2]);
        list.unlink(&mut nodes, 2);
        assert_eq!(order(&list, &nodes), [3, 0]);
        assert_eq!((list.head(), list.tail()), (0, 3));
        list.unlink(&mut nodes, 3);
        list.unlink(&mut nodes, 0);
        assert_eq!((list.head(), list.tail()), (NIL, NIL));
    }

    /// `move_to_front` against a model (a vector, most recent last), from every position: the
    /// head, the tail, the second, the middle.
    #[test]
    fn move_to_front_matches_a_model() {
        let n = 6u32;
        let mut nodes = vec![Links::unlinked(0); n as usize];
        let mut list = List::new();
        let mut model: Vec<u32> = Vec::new();
        for i in 0..n {
            list.push_front(&mut nodes, i);
            model.push(i);
        }
        let mut x = 7u32;
        for _ in 0..500 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let i = (x >> 16) % n;
            list.move_to_front(&mut nodes, i);
            model.retain(|&j| j != i);
            model.push(i);
            assert_eq!(order(&list, &nodes), model);
            assert_eq!(
                (list.head(), list.tail()),
                (model[n as usize - 1], model[0])
            );
            // Walking from the head by `next` gives the same order, reversed.
            let mut forward = vec![];
            let mut cur = list.head();
            while cur != NIL {
                forward.push(cur);
                cur = nodes[cur as usize].next;
            }
            forward.reverse();
            assert_eq!(forward, model);
        }
    }

    #[test]
    fn relocated_fixes_neighbours() {
        let mut nodes = vec![Links::unlinked(0); 3];
        let mut list = List::new();
        for i in 0..3 {
            list.push_front(&mut nodes, i);
        }
        // Remove 0 (the tail) the way the slab does: unlink, then move the last node into its slot.
        list.unlink(&mut nodes, 0);
        nodes.swap_remove(0);
        list.relocated(&mut nodes, 0);
        assert_eq!(order(&list, &nodes), [1, 0]);
        assert_eq!(list.head(), 0);
    }
}
