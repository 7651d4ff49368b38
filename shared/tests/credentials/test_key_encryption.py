"""Short secrets sealed under the key-encryption keys: bound to their record, opened after a
KEK rotation, refused under an unknown KEK."""

import pytest

from credreg_shared.credentials.key_encryption import KeyEncryptionError, KeyEncryptionKeyring


def test_a_sealed_text_opens_for_its_label_only_and_after_a_kek_rotation() -> None:
    kek_a = KeyEncryptionKeyring.generate_kek()
    old = KeyEncryptionKeyring.from_string(f"a:{kek_a}")
    sealed = old.seal_text("sub-1", "whsec_secret")
    assert "whsec_secret" not in sealed
    assert old.open_text("sub-1", sealed) == "whsec_secret"
    with pytest.raises(KeyEncryptionError):
        old.open_text("sub-2", sealed)  # copied into another record
    rotated = KeyEncryptionKeyring.from_string(f"b:{KeyEncryptionKeyring.generate_kek()},a:{kek_a}")
    assert rotated.open_text("sub-1", sealed) == "whsec_secret"
    assert rotated.seal_text("sub-1", "x").startswith("b.")
    with pytest.raises(KeyEncryptionError):
        KeyEncryptionKeyring.from_string(f"c:{KeyEncryptionKeyring.generate_kek()}").open_text(
            "sub-1", sealed
        )
