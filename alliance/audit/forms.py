"""The erasure request: the client's code typed twice (posted, never in a URL)."""

from __future__ import annotations

from django import forms


class ErasureForm(forms.Form):
    display_code = forms.CharField(max_length=40, required=False)
    confirm_code = forms.CharField(max_length=40, required=False)

    def code(self) -> str:
        """The code to erase; "" when none (or one no client can have) was given."""
        return self.cleaned_data["display_code"] if self.is_valid() else ""

    def confirmed(self) -> bool:
        return self.is_valid() and self.cleaned_data["confirm_code"] == self.code()
