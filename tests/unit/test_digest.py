"""The tree digest: a sum of per-record hashes, updated record by record to the digest a
whole tree gives."""

from __future__ import annotations

from functions.directory.digest import (
    group_line,
    membership_line,
    tree_fingerprint,
    updatable,
    updated,
    user_line,
)
from functions.directory.model import DirectoryGroup, DirectoryUser, GroupTree


def _tree(*, alice_name: str = "Alice", bob_in: str = "g1") -> GroupTree:
    tree = GroupTree(root=DirectoryGroup("root", "Level 0"))
    tree.users = {"a": DirectoryUser("a", alice_name, None, "a@x"),
                  "b": DirectoryUser("b", "Bob", "b@x", "b@x")}
    tree.direct_user_ids = {"a"}
    tree.groups = {"g1": DirectoryGroup("g1", "One"), "g2": DirectoryGroup("g2", "Two")}
    tree.memberships = {(bob_in, "b")}
    return tree


def test_a_digest_updated_from_the_changed_records_equals_the_whole_trees() -> None:
    before, after = _tree(), _tree(alice_name="Alicia", bob_in="g2")
    removed = [user_line(before.users["a"], True), membership_line("g1", "b")]
    added = [user_line(after.users["a"], True), membership_line("g2", "b")]
    assert updatable(tree_fingerprint(before))
    assert updated(tree_fingerprint(before), removed, added) == tree_fingerprint(after)
    assert tree_fingerprint(before) != tree_fingerprint(after)


def test_the_digest_does_not_depend_on_order_and_sees_every_stored_field() -> None:
    tree = _tree()
    again = _tree()
    again.users = dict(reversed(list(tree.users.items())))
    assert tree_fingerprint(again) == tree_fingerprint(tree)
    again.direct_user_ids = {"a", "b"}  # a direct flag is stored: another digest
    assert tree_fingerprint(again) != tree_fingerprint(tree)
    renamed = _tree()
    renamed.groups["g2"] = DirectoryGroup("g2", "Twins")
    assert tree_fingerprint(renamed) == updated(
        tree_fingerprint(tree), [group_line(tree.groups["g2"])], [group_line(renamed.groups["g2"])])
    assert not updatable("0" * 64)  # a digest of the older kind: not updated, read in full
