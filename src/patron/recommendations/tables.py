"""Recommendation models, each member's precomputed top-N, and segments built from them.

``recommendation_models`` keeps a program's trained model: when and on what it
was trained, its parameters, and the fitted model itself (``model``: NumPy
arrays as ``.npz`` bytes, the item-item similarity or ALS item factors, with the
item keys). A training writes its rows under a new model in ``training`` state,
a batch of members per transaction, then in one transaction makes it ``ready``
and drops the model before it with its rows: readers always see one whole model.

``recommendations`` is what ``GET /members/{id}/recommendations`` reads: per
member, per kind (``category``, ``product``, ``reward``), the top items in
``rank`` order with their score and the reason shown beside them. Rows with no
``member_id`` are the program's popular items, the answer for a member the
training did not see (enrolled since, or with no history). ``source`` says
whether the model chose the item or popularity filled the list.

The rows are a cache that every training rewrites in bulk, so they carry no
foreign keys: the three checks per row tripled the time of writing them (100,000
rows by COPY on PostgreSQL at load 8 on two cores: 3.7-4.2 s with them, 1.1-1.7 s
without); members and programs are never deleted, and a model's rows go with it
(``repository.make_ready``).

``recommendation_segments`` are the static segments a training keeps filled
with "members likely to buy category X" (``patron recommendations segment``).
"""

from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, LargeBinary, String, Table,
                        UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

recommendation_models = Table(
    "recommendation_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("history_until", UTCDateTime, nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("parameters", JSONDoc, nullable=False),
    Column("members", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    Column("interactions", Integer, nullable=False),
    Column("model", LargeBinary, nullable=False),
    Index("ix_recommendation_models_program_id_status", "program_id", "status"),
)

recommendations = Table(
    "recommendations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, nullable=False),
    Column("model_id", BigId, nullable=False),
    Column("member_id", BigId),
    Column("kind", String(16), nullable=False),
    Column("item", String(200), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("source", String(16), nullable=False),
    Column("reason", String(300), nullable=False),
    Index("ix_recommendations_member_id_model_id", "member_id", "model_id"),
    Index("ix_recommendations_model_id", "model_id"),
    Index("ix_recommendations_program_id_kind_item", "program_id", "kind", "item"),
)

recommendation_segments = Table(
    "recommendation_segments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("segment_key", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item", String(200), nullable=False),
    Column("top", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "segment_key"),
)
