"""Entities inside aggregates: HasMany's generated methods, identity equality, storage."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseEntity, invariant
from archipel.errors import (
    IncorrectUsageError,
    ObjectNotFoundError,
    TooManyObjectsError,
    ValidationError,
)
from archipel.fields import HasMany, HasOne, Integer, String
from tests.unit._support import start


@pytest.fixture
def library(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Shelf(BaseAggregate):
        label = String()
        books = HasMany("Book")
        plaque = HasOne("Plaque")

        @invariant.post
        def at_most_three_books(self):
            if len(self.books) > 3:
                raise ValidationError({"books": ["a shelf holds at most 3 books"]})

    @domain.entity(part_of=Shelf)
    class Book(BaseEntity):
        title = String(required=True)
        pages = Integer(default=100)

    @domain.entity(part_of=Shelf)
    class Plaque(BaseEntity):
        text = String()

    start(domain)
    return domain, Shelf, Book, Plaque


def test_has_many_generates_add_and_remove_methods(library):
    _, shelf_cls, book_cls, _ = library
    shelf = shelf_cls(label="A")
    dune, emma = book_cls(title="Dune"), book_cls(title="Emma")
    shelf.add_books(dune)
    shelf.add_books(emma)
    assert [b.title for b in shelf.books] == ["Dune", "Emma"]
    shelf.remove_books(dune)
    assert [b.title for b in shelf.books] == ["Emma"]


def test_add_accepts_several_entities_lists_and_mappings(library):
    _, shelf_cls, book_cls, _ = library
    shelf = shelf_cls()
    shelf.add_books(book_cls(title="A"), [book_cls(title="B"), {"title": "C"}])
    assert [b.title for b in shelf.books] == ["A", "B", "C"]


def test_adding_an_entity_with_a_known_identity_replaces_it(library):
    _, shelf_cls, book_cls, _ = library
    shelf = shelf_cls()
    book = book_cls(id="b1", title="Draft")
    shelf.add_books(book)
    shelf.add_books(book_cls(id="b1", title="Final"))
    assert [(b.id, b.title) for b in shelf.books] == [("b1", "Final")]


def test_add_checks_the_aggregates_invariants_and_keeps_the_old_list_on_failure(library):
    _, shelf_cls, book_cls, _ = library
    shelf = shelf_cls()
    shelf.add_books([book_cls(title=t) for t in "ABC"])
    with pytest.raises(ValidationError) as info:
        shelf.add_books(book_cls(title="D"))
    assert info.value.messages == {"books": ["a shelf holds at most 3 books"]}
    assert [b.title for b in shelf.books] == ["A", "B", "C"]


def test_add_rejects_invalid_child_data(library):
    _, shelf_cls, _, _ = library
    shelf = shelf_cls()
    with pytest.raises(ValidationError):
        shelf.add_books({"pages": 3})
    assert shelf.books == []


def test_entities_are_equal_by_identity(library):
    _, _, book_cls, plaque_cls = library
    assert book_cls(id="1", title="A") == book_cls(id="1", title="B")
    assert book_cls(id="1", title="A") != book_cls(id="2", title="A")
    assert book_cls(id="1", title="A") != plaque_cls(id="1")
    assert {book_cls(id="1", title="A"), book_cls(id="1", title="B")} == {book_cls(id="1", title="C")}


def test_children_know_their_aggregate_root(library):
    _, shelf_cls, book_cls, plaque_cls = library
    shelf = shelf_cls(plaque={"text": "New"})
    shelf.add_books(book_cls(title="A"))
    assert shelf.books[0]._root is shelf
    assert shelf.plaque._root is shelf


def test_changing_a_child_checks_the_roots_invariants(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        lines = HasMany("OrderLine")

        @invariant.post
        def total_quantity_at_most_ten(self):
            if sum(line.quantity for line in self.lines) > 10:
                raise ValidationError({"lines": ["at most 10 items per order"]})

    @domain.entity(part_of=Order)
    class OrderLine(BaseEntity):
        quantity = Integer(default=1)

    start(domain)
    order = Order(lines=[{"quantity": 5}, {"quantity": 5}])
    with pytest.raises(ValidationError):
        order.lines[0].quantity = 6
    assert order.lines[0].quantity == 5


def test_aggregate_with_children_is_stored_and_loaded_whole(library):
    domain, shelf_cls, book_cls, _ = library
    with domain.domain_context():
        repo = domain.repository_for(shelf_cls)
        shelf = shelf_cls(label="A", plaque={"text": "Classics"})
        shelf.add_books(book_cls(title="Dune", pages=412), book_cls(title="Emma"))
        repo.add(shelf)
        loaded = repo.get(shelf.id)
        assert [(b.title, b.pages) for b in loaded.books] == [("Dune", 412), ("Emma", 100)]
        assert loaded.books == shelf.books
        assert loaded.plaque.text == "Classics"
        assert loaded.books[0]._root is loaded
        loaded.remove_books(loaded.books[0])
        repo.add(loaded)
        assert [b.title for b in repo.get(shelf.id).books] == ["Emma"]


def test_entities_nested_two_levels_deep_are_guarded_by_the_aggregates_invariants(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Tree(BaseAggregate):
        branches = HasMany("Branch")

        @invariant.post
        def at_most_three_leaf_units(self):
            if sum(leaf.size for branch in self.branches for leaf in branch.leaves) > 3:
                raise ValidationError({"branches": ["too many leaf units"]})

    @domain.entity(part_of=Tree)
    class Branch(BaseEntity):
        leaves = HasMany("Leaf")

    @domain.entity(part_of=Branch)
    class Leaf(BaseEntity):
        size = Integer(default=1)

    start(domain)
    built = Tree(branches=[{"leaves": [{"size": 1}]}])
    loaded = Tree._from_primitive(built.to_dict())
    for tree in (built, loaded):
        leaf = tree.branches[0].leaves[0]
        assert leaf._root is tree
        with pytest.raises(ValidationError):
            leaf.size = 10
        assert leaf.size == 1
        tree.branches[0].add_leaves(Leaf(size=2))
        assert tree.branches[0].leaves[1]._root is tree
        with pytest.raises(ValidationError):
            tree.branches[0].leaves[1].size = 3


def test_has_many_generates_filter_and_get_one_from_as_protean_does(library):
    _, shelf_cls, book_cls, _ = library
    shelf = shelf_cls(label="A")
    shelf.add_books(book_cls(title="Dune", pages=400), book_cls(title="Emma"), book_cls(title="Ubik"))
    assert [b.title for b in shelf.filter_books(pages=100)] == ["Emma", "Ubik"]
    assert shelf.filter_books(title="Nope") == []
    assert shelf.get_one_from_books(title="Dune").pages == 400
    with pytest.raises(ObjectNotFoundError):
        shelf.get_one_from_books(title="Nope")
    with pytest.raises(TooManyObjectsError, match="filter_books"):
        shelf.get_one_from_books(pages=100)
    with pytest.raises(IncorrectUsageError, match="colour"):
        shelf.filter_books(colour="red")


def test_state_tells_new_persisted_changed_and_destroyed(library):
    domain, shelf_cls, book_cls, plaque_cls = library
    with domain.domain_context():
        repo = domain.repository_for(shelf_cls)
        shelf = shelf_cls(label="A")
        shelf.add_books(book_cls(title="Dune"))
        assert (shelf.state_.is_new, shelf.state_.is_persisted, shelf.state_.is_changed) == (True, False, False)
        repo.add(shelf)
        assert (shelf.state_.is_new, shelf.state_.is_persisted, shelf.state_.is_changed) == (False, True, False)
        loaded = repo.get(shelf.id)
        assert loaded.state_.is_persisted and not loaded.state_.is_changed
        # a child entity answers for its aggregate
        assert loaded.books[0].state_.is_persisted
        loaded.books[0].title = "Dune II"
        assert loaded.state_.is_changed
        loaded.label = "B"
        assert loaded.state_.is_changed
        repo.add(loaded)
        assert not loaded.state_.is_changed
        repo.remove(loaded)
        assert (loaded.state_.is_destroyed, loaded.state_.is_persisted, loaded.state_.is_new) == (True, False, False)


def test_an_entity_reads_its_owner_as_protean_s_implicit_reference(make_domain):
    from archipel.fields import Reference

    domain = make_domain()

    @domain.aggregate
    class BlogPost(BaseAggregate):
        title = String()
        replies = HasMany("Reply")
        cover = HasOne("Cover")

    @domain.entity(part_of=BlogPost)
    class Reply(BaseEntity):
        text = String()
        notes = HasMany("Note")

    @domain.entity(part_of=Reply)
    class Note(BaseEntity):
        body = String()

    @domain.entity(part_of=BlogPost)
    class Cover(BaseEntity):
        blog_post = Reference(BlogPost)  # declared: the child's own field, set on adding

    start(domain)
    with domain.domain_context():
        reply = Reply(text="x")
        assert reply.blog_post is None and reply.blog_post_id is None  # held by nobody yet
        post = BlogPost(title="t", replies=[reply], cover=Cover())
        assert reply.blog_post is post and reply.blog_post_id == post.id
        note = Note(body="b")
        reply.add_notes(note)
        assert note.reply is reply and note.reply_id == reply.id  # its own owner, not the root
        assert post.cover.blog_post == post.id == post.cover.blog_post_id
        assert "blog_post" not in reply.to_dict() and "blog_post_id" not in reply.to_dict()
        domain.repository_for(BlogPost).add(post)
        again = domain.repository_for(BlogPost).get(post.id)
        assert again.replies[0].blog_post_id == post.id
        assert again.replies[0].notes[0].reply_id == again.replies[0].id
        assert again.cover.blog_post == post.id
        with pytest.raises(AttributeError):
            reply.blog_post_id = "elsewhere"  # the link follows the collection holding it
