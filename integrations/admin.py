"""Staff console for integrations: API keys (shown once, revocable), webhook endpoints and deliveries (replay).

The scope and event choices are what the apps registered (``integrations.registry``), read when a form is built.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import registry
from .models import APIKey, WebhookDelivery, WebhookEndpoint
from .services import (
    api_key_create,
    api_key_revoke,
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_secret_rotate,
)


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=registry.scope_choices, widget=forms.CheckboxSelectMultiple)
    owner = forms.ChoiceField(
        choices=registry.key_owner_choices,
        required=False,
        label=_("Belongs to"),
        help_text=_("A partner's key records purchases at that partner and sees only that partner's data."),
    )

    class Meta:
        model = APIKey
        fields = ["name", "owner", "scopes"]


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    list_display = [
        "name",
        "prefix",
        "owner_name",
        "scope_list",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "owner"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_keys"]
    readonly_fields = [
        "prefix",
        "owner_name",
        "scope_list",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    @admin.display(description=_("belongs to"))
    def owner_name(self, obj):
        return dict(registry.key_owner_choices()).get(obj.owner, obj.owner)

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "owner", "scopes"]
        return ["name", "prefix", "owner_name", "scope_list", "created_by", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        # A key's scopes are fixed at creation: to change them, create a new key and revoke this one.
        return [] if obj is None else ["name", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return
        key, raw_key = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            owner=form.cleaned_data.get("owner") or "",
        )
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        messages.warning(
            request,
            _("API key for %(name)s: %(key)s — copy it now, it will not be shown again.")
            % {"name": key.name, "key": raw_key},
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: purchases keep pointing at the key that sent them

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(api_key=key)
        self.message_user(
            request, ngettext("%d key revoked.", "%d keys revoked.", len(keys)) % len(keys), messages.SUCCESS
        )


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=registry.event_choices, widget=forms.CheckboxSelectMultiple)
    # Program-wide events are a grant: left unchosen, an endpoint hears only its own integration.
    audience = forms.ChoiceField(
        choices=WebhookEndpoint.Audience.choices,
        initial=WebhookEndpoint.Audience.OWN,
        required=False,
        widget=forms.RadioSelect,
        help_text=WebhookEndpoint._meta.get_field("audience").help_text,
    )

    def clean_audience(self):
        return self.cleaned_data.get("audience") or WebhookEndpoint.Audience.OWN

    class Meta:
        model = WebhookEndpoint
        fields = ["api_key", "url", "events", "audience", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "api_key", "event_list", "audience", "is_active", "created_at"]
    list_filter = ["is_active", "audience"]
    list_select_related = ["api_key"]
    # The secret is never displayed after creation (to no role): it is enough to forge our signatures.
    readonly_fields = ["secret_state", "created_at"]
    actions = ["rotate_secrets"]

    @admin.display(description=_("events"))
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description=_("signing secret"))
    def secret_state(self, obj):
        if obj.previous_secret and obj.previous_secret_expires_at:
            return _("Set (shown once). Rotated: the previous secret also signs until %(when)s.") % {
                "when": date_format(timezone.localtime(obj.previous_secret_expires_at), "DATETIME_FORMAT")
            }
        return _("Set (shown once, when it was created or rotated).")

    def get_readonly_fields(self, request, obj=None):
        return ["api_key", *self.readonly_fields] if obj else []

    def get_fields(self, request, obj=None):
        base = ["api_key", "url", "events", "audience", "is_active"]
        return [*base, "secret_state", "created_at"] if obj else base

    def response_add(self, request, obj, post_url_continue=None):
        messages.warning(
            request,
            _("Signing secret for %(url)s: %(secret)s — copy it now, it will not be shown again.")
            % {"url": obj.url, "secret": obj.secret},
        )
        return super().response_add(request, obj, post_url_continue)

    @admin.action(
        description=_("Rotate the signing secret (the old one signs for 24 hours more)"), permissions=["change"]
    )
    def rotate_secrets(self, request, queryset):
        for endpoint in queryset:
            endpoint, secret = webhook_secret_rotate(endpoint=endpoint)
            messages.warning(
                request,
                _("New signing secret for %(url)s: %(secret)s — copy it now, it will not be shown again.")
                % {"url": endpoint.url, "secret": secret},
            )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            webhook_endpoint_update(
                endpoint=obj,
                url=data["url"],
                events=data["events"],
                is_active=data["is_active"],
                audience=data["audience"],
            )
            return
        endpoint = webhook_endpoint_create(
            api_key=data["api_key"], url=data["url"], events=data["events"], audience=data["audience"]
        )
        if not data["is_active"]:
            webhook_endpoint_update(endpoint=endpoint, url=endpoint.url, events=endpoint.events, is_active=False)
        obj.pk, obj.secret = endpoint.pk, endpoint.secret

    def delete_model(self, request, obj):
        webhook_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_delete(endpoint=endpoint)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event",
        "endpoint",
        "caused_by",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint", "caused_by"]
    actions = ["replay_deliveries"]
    readonly_fields = [
        "endpoint",
        "caused_by",
        "event",
        "payload",
        "status",
        "attempts",
        "last_status_code",
        "last_response_body",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Replay selected deliveries"), permissions=["change"])
    def replay_deliveries(self, request, queryset):
        deliveries = list(queryset)
        for delivery in deliveries:
            webhook_delivery_replay(delivery=delivery)
        self.message_user(
            request,
            ngettext("%d delivery queued again.", "%d deliveries queued again.", len(deliveries)) % len(deliveries),
            messages.SUCCESS,
        )
