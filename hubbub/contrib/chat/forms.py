"""Forms of the lobby, sign-in and the room pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.text import slugify

from . import lookalikes, names


class LobbyForm(forms.Form):
    name = forms.CharField(
        label="Your name",
        required=False,
        max_length=100,
        help_text="Leave it empty for a Shakespearean one.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname", "autofocus": True, "placeholder": "e.g. Ada"}),
    )

    def clean_name(self) -> str:
        """The name as a username (not yet made unique); a random one if none was given."""
        name = names.normalize(self.cleaned_data["name"])
        if not name:
            return names.random_name()
        if len(name) > names.MAX_LENGTH:
            raise forms.ValidationError(f"Keep it to {names.MAX_LENGTH} characters or fewer.")
        if not names.is_valid(name):
            raise forms.ValidationError(names.NAME_RULE)
        mixing = lookalikes.mixing_rule(name)
        if mixing:
            raise forms.ValidationError(mixing)
        other = names.lookalike(name)
        if other is not None:
            raise forms.ValidationError(f"“{name}” looks too much like “{other}”, someone else's name: choose another.")
        return name


class SignInForm(AuthenticationForm):
    """Django's sign-in form, finding the account by name as the lobby does (ignoring case):
    "ada" signs in as the guest the lobby named "Ada". The password check is Django's."""

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        user = names.find_user(username)
        return user.get_username() if user is not None else username


class RoomForm(forms.Form):
    name = forms.CharField(
        label="Room name", max_length=60, widget=forms.TextInput(attrs={"placeholder": "e.g. Book club"})
    )
    is_private = forms.BooleanField(label="Private: only members can read it (you can add members)", required=False)

    def clean_name(self) -> str:
        return room_name(self.cleaned_data["name"])


def room_name(name: str) -> str:
    """A room's name with its spaces tidied, or ValidationError saying why it will not do."""
    name = " ".join(name.split())
    if not slugify(name):
        raise forms.ValidationError("Give the room a name with at least one letter or digit.")
    for word in name.split():
        mixing = lookalikes.mixing_rule(word)
        if mixing:
            raise forms.ValidationError(mixing)
    return name


class RoomSettingsForm(forms.Form):
    """What a room's owner (or staff) changes: its name (the slug, and so its address, stays) and topic."""

    name = forms.CharField(label="Room name", max_length=60)
    topic = forms.CharField(
        label="Topic", max_length=200, required=False, help_text="A line shown under the room's name."
    )

    def clean_name(self) -> str:
        return room_name(self.cleaned_data["name"])

    def clean_topic(self) -> str:
        return " ".join(self.cleaned_data["topic"].split())


class MemberForm(forms.Form):
    username = forms.CharField(label="Add a member by name", max_length=150)

    def clean_username(self) -> object:
        username = self.cleaned_data["username"].strip().lstrip("@")
        user = names.find_user(username)
        if user is None:
            raise forms.ValidationError(f"Nobody is called “{username}”.")
        return user


class RemoveMemberForm(MemberForm):
    username = forms.CharField(label="Remove a member by name", max_length=150)
