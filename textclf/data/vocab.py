"""Tokenizer and vocabulary, built with Hugging Face `tokenizers`: words, or subwords (BPE,
WordPiece) learnt within words.

Fitted on the training split only (so validation and test words the model never saw map to
``<unk>``, as they would for new text), and saved as the tokenizer's own JSON inside checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from textclf.core.errors import TextclfError

PAD, UNK, SEP = "<pad>", "<unk>", "<sep>"
# A label of several words ("n,w", "apple,football") gets a token of its own, this prefix + the
# label, for answer layers tied to a word table: scored by the mean of its words, "n,w" and "w,n"
# would have identical logits. The authors' MemN2N code likewise treats each answer as one word.
ANSWER_PREFIX = "<answer>"
SPECIALS = (PAD, UNK, SEP)  # ids 0, 1, 2 in this order; padding must be 0 for the models
PAD_ID, UNK_ID, SEP_ID = 0, 1, 2

# Words keep inner apostrophes ("don't") and clitics stay whole ("n't", "'s" in PTB-tokenized SST);
# every other punctuation mark is its own token, so "kitchen." becomes "kitchen" ".".
_WORD_PATTERN = r"'?\w+(?:'\w+)*|[^\w\s]"
# The tokenizer model and its trainer for each tokenizer.kind.
KINDS = {
    "word": (models.WordLevel, trainers.WordLevelTrainer),
    "bpe": (models.BPE, trainers.BpeTrainer),
    "wordpiece": (models.WordPiece, trainers.WordPieceTrainer),
}
# Texts longer than this many characters per token kept are cut before they are tokenized (`head`).
CHARS_PER_TOKEN = 16


def head(tokenizer: Tokenizer, text: str, max_tokens: int) -> str:
    """The start of ``text`` that holds its first ``max_tokens`` tokens whole, found without
    tokenizing all of it: a 10 MB single-line text would otherwise become millions of tokens (over
    a gigabyte) only for all but the first few hundred to be dropped.

    Tries a prefix of ``max_tokens * CHARS_PER_TOKEN`` characters, growing it fourfold until it
    holds more than ``max_tokens`` tokens. Only a prefix's last token can differ from the whole
    text's (a word cut in two, a mark whose neighbour is gone; normalizing is per character), so
    with more than ``max_tokens`` of them the first ``max_tokens`` are the text's own.
    """
    size = max_tokens * CHARS_PER_TOKEN
    while size < len(text):
        prefix = text[:size]
        # Counted without <sep>s: the pre-tokenizer would make three pieces of each, one token once encoded.
        counted = prefix.replace(SEP, " ")
        normalized = tokenizer.normalizer.normalize_str(counted) if tokenizer.normalizer else counted
        if len(tokenizer.pre_tokenizer.pre_tokenize_str(normalized)) > max_tokens:
            return prefix
        size *= 4
    return text


class Vocab:
    """A fitted tokenizer: text -> token ids, with the ids of repeated strings computed once."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        for expected_id, token in enumerate(SPECIALS):
            if tokenizer.token_to_id(token) != expected_id:
                raise TextclfError(
                    f"tokenizer does not map {token} to id {expected_id}; it was not built by "
                    "textclf. Retrain the model to get a matching tokenizer."
                )

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        lowercase: bool = True,
        min_freq: int = 1,
        max_size: int | None = None,
        cjk_chars: bool = False,
        drop_punctuation: bool = False,
        max_tokens: int | None = None,
        kind: str = "word",
    ) -> Vocab:
        """Learn the vocabulary from ``texts``: words seen at least ``min_freq`` times, at most
        ``max_size`` of them (most frequent first), plus the special tokens.

        ``kind``: ``word``, or ``bpe`` / ``wordpiece`` for subwords learnt inside the words (the
        same splitting into words first), ``max_size`` of them: a rare or misspelt word becomes
        known pieces instead of ``<unk>``, and Chinese without a segmenter gets multi-character
        units. Pieces that continue a word start with ``##``, so "un" alone and "##un" differ.

        ``cjk_chars``: every CJK ideograph becomes a token of its own (Chinese is written without
        spaces, and character models are the usual baseline for it); other text still splits into
        words. Text already segmented into words by spaces needs no option: words are whatever
        stands between spaces and punctuation.

        ``drop_punctuation``: tokens made only of punctuation are removed (as bAbI implementations
        do: a sentence's final "." would otherwise take a position in MemN2N's position encoding).

        ``max_tokens``: a long text is learnt from its `head` only (its first ``max_tokens`` tokens,
        what models read of a single text, and at most a few thousand characters more), so a huge
        one is never tokenized whole.
        """
        if min_freq < 1:
            raise TextclfError(f"tokenizer.min_freq must be >= 1, got {min_freq}.")
        if max_size is not None and max_size < 1:
            raise TextclfError(f"tokenizer.max_size must be >= 1 or null, got {max_size}.")
        if kind not in KINDS:
            raise TextclfError(f"tokenizer.kind must be word, bpe or wordpiece, got {kind!r}.")
        model, trainer_class = KINDS[kind]
        pieces = {} if kind == "word" else {"continuing_subword_prefix": "##"}  # subwords mark the pieces that continue a word
        tokenizer = Tokenizer(model(unk_token=UNK, **pieces))
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        if cjk_chars:  # BertNormalizer puts spaces around each CJK ideograph
            steps.append(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False))
        tokenizer.normalizer = normalizers.Sequence(steps)
        steps = [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(_WORD_PATTERN), behavior="isolated")]
        if drop_punctuation:
            steps.append(pre_tokenizers.Split(Regex(r"^[^\w\s]+$"), behavior="removed"))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(steps)
        vocab_size = (max_size + len(SPECIALS)) if max_size is not None else 2**31 - 1
        trainer = trainer_class(vocab_size=vocab_size, min_frequency=min_freq, special_tokens=list(SPECIALS), show_progress=False, **pieces)
        # <sep> inside a text (several table columns joined, data/table_columns.py) encodes as its special
        # token, but the trainer would count its pieces "<", "sep" and ">" as words.
        texts = (text.replace(SEP, " ") for text in texts)
        if max_tokens is not None:
            # Cut by a copy: the tokenizer itself is busy while it trains. A generator, not a list, so
            # that a streamed table's texts are never all in memory at once (data/streaming.py).
            cutter = Tokenizer.from_str(tokenizer.to_str())
            texts = (head(cutter, text, max_tokens) for text in texts)
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        try:
            tokenizer = Tokenizer.from_str(text)
        except Exception as err:  # the Rust side raises plain Exception subclasses
            raise TextclfError(f"the tokenizer stored in the checkpoint is unreadable ({err}).") from None
        return cls(tokenizer)

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=False).tokens

    def words(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[str]]:
        """Each text's tokens as written in it (case and all), one per id `encode_many` gives: what
        explanations show under their weights. Unknown words keep their own spelling, not ``<unk>``."""
        cut = [text if max_tokens is None else head(self.tokenizer, text, max_tokens) for text in texts]
        encodings = self.tokenizer.encode_batch(cut, add_special_tokens=False)  # offsets into the text itself
        return [[text[start:end] for start, end in enc.offsets[:max_tokens]] for text, enc in zip(cut, encodings)]

    def add_answer_tokens(self, labels: Sequence[str]) -> None:
        """A token of its own for every label that reads as more than one word (see ANSWER_PREFIX)."""
        several = [label for label, ids in zip(labels, self.encode_many(labels)) if len(ids) > 1]
        if several:
            self.tokenizer.add_tokens([ANSWER_PREFIX + label for label in several])

    def label_ids(self, labels: Sequence[str]) -> list[list[int]]:
        """Token ids that stand for each label: its own answer token if it has one, else its words.
        Checkpoints made before answer tokens existed have none and keep scoring labels by words."""
        words = self.encode_many(labels)
        ids = [self.tokenizer.token_to_id(ANSWER_PREFIX + label) for label in labels]
        return [[own] if own is not None else word_ids for own, word_ids in zip(ids, words)]

    def encode_many(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """Token ids for each text (its first ``max_tokens`` only, if given). bAbI repeats the same
        sentences thousands of times, so each distinct string is encoded once (in parallel by the
        Rust tokenizer) and looked up after."""
        if max_tokens is not None:
            texts = [head(self.tokenizer, text, max_tokens) for text in texts]
        distinct = list(dict.fromkeys(texts))
        # encode_batch_fast (tokenizers >= 0.20) skips the character offsets we never read: same ids,
        # ~30 % faster, which is most of end-to-end prediction's encoding time.
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        encodings = encode(distinct, add_special_tokens=False)
        ids_of = {text: enc.ids[:max_tokens] for text, enc in zip(distinct, encodings)}
        return [ids_of[text] for text in texts]
