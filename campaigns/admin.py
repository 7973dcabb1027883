"""The marketers' console: campaigns with lifecycle buttons, audience sizes and reports; segments with lists.

Every write goes through ``campaigns.services``; rules are read-only once a campaign has left draft. Segment
edits and deletions (and a draft's deletion) leave a staff audit row, written by the services (``members.audit``);
campaign edits and status changes keep their own history (``CampaignChange``).
"""

from __future__ import annotations

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from members.charts import bar_chart, days_filled
from members.exceptions import LoyaltyError
from members.forms import apply_domain_error

from . import services
from .models import Campaign, CampaignChange, CampaignEmail, CampaignParticipation, Segment, SegmentMember
from .segments import audience_split, segment_size
from .selectors import MIN_BUYERS_FOR_LIFT, campaign_report
from .services.lifecycle import TRANSITIONS, campaign_check

ACTIONS = {
    "schedule": services.campaign_schedule,
    "unschedule": services.campaign_unschedule,
    "launch": services.campaign_launch,
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "end": services.campaign_end,
}
ACTION_LABELS = {
    "schedule": _("Schedule"),
    "unschedule": _("Back to draft"),
    "launch": _("Launch now"),
    "pause": _("Pause"),
    "resume": _("Resume"),
    "end": _("End"),
}


Kind = Campaign.Kind
CONDITIONS = {"categories", "skus", "channels", "stores", "threshold_spend"}
STACKING = {"stackable", "priority", "per_member_cap", "budget_points"}
#: The fields each kind uses (beyond name, schedule and audience): the form shows these and nothing else.
KIND_LAYOUT = {
    Kind.MULTIPLIER: {"multiplier", *CONDITIONS, *STACKING},
    Kind.FIXED_BONUS: {"bonus_points", *CONDITIONS, "trigger", "trigger_count", "trigger_period", *STACKING},
    Kind.BIRTHDAY: {"bonus_points", "reward", "reward_note", "birthday_scope", "budget_points"},
    Kind.WINBACK: {"multiplier", "bonus_points", *CONDITIONS, "audience_days", "offer_days", *STACKING},
    Kind.EXPIRY_REMINDER: {"audience_days"},
    Kind.TIER_NEAR: {"tier_gap"},
    Kind.MANUAL_BONUS: {"bonus_points", "per_member_cap", "budget_points"},
}
SECTIONS = [
    (_("What is awarded"), ["multiplier", "bonus_points", "reward", "reward_note"]),
    (_("Conditions"), ["categories", "skus", "channels", "stores", "threshold_spend"]),
    (_("What triggers the bonus"), ["trigger", "trigger_count", "trigger_period"]),
    (_("Who is targeted"), ["birthday_scope", "audience_days", "tier_gap", "offer_days"]),
    (_("Stacking and limits"), ["stackable", "priority", "per_member_cap", "budget_points"]),
]
KIND_DESCRIPTIONS = {
    Kind.MULTIPLIER: _("Multiply the points earned on matching purchases while it runs (e.g. double points)."),
    Kind.FIXED_BONUS: _("Give a fixed number of points when a purchase meets a trigger (spend, product, Nth visit)."),
    Kind.BIRTHDAY: _("Give points, a reward or both on the member's birthday (day or month)."),
    Kind.WINBACK: _("Email lapsed members an offer; their next purchase within the offer earns the bonus."),
    Kind.EXPIRY_REMINDER: _("Email members whose points expire soon (a service email, no points)."),
    Kind.TIER_NEAR: _("Email members close to the next tier with how much is left (no points)."),
    Kind.MANUAL_BONUS: _("Credit a fixed number of points once to everyone in the audience at launch."),
}
PLACEHOLDERS = (
    "{{ first_name }}, {{ name }}, {{ balance }}, {{ value }} {{ currency }}, {{ offer }}, {{ expiring_points }}, "
    "{{ expiry_date }}, {{ next_tier }}, {{ gap }}, {{ program }}"
)
#: Help texts that depend on the kind (the model's own help text serves the rest).
KIND_HELP_TEXTS = {
    Kind.WINBACK: {
        "audience_days": _("Members with no purchase for this many days get the email."),
        "offer_days": _("How long the emailed offer lasts after it is sent."),
        "multiplier": _("Multiplier on the next purchase within the offer (1 for none)."),
        "bonus_points": _("Fixed points on the next purchase within the offer (0 for none)."),
    },
    Kind.EXPIRY_REMINDER: {
        "audience_days": _("Email members with points expiring within this many days (empty: the program default)."),
    },
    Kind.BIRTHDAY: {"bonus_points": _("Points given on the birthday (0 if the reward alone is the gift).")},
    Kind.MANUAL_BONUS: {"bonus_points": _("Points credited to each member of the audience at launch.")},
}
EMAIL_HELP = {
    "email_subject": _("Plain text. Placeholders: %(names)s.") % {"names": PLACEHOLDERS},
    "email_body": _(
        "Plain text; a blank line starts a new paragraph, and the unsubscribe link is added below. "
        "Placeholders: %(names)s."
    )
    % {"names": PLACEHOLDERS},
}
for _kind in Campaign.EMAIL_KINDS:
    KIND_HELP_TEXTS.setdefault(_kind, {}).update(EMAIL_HELP)


class ListField(forms.CharField):
    """A JSON list edited as comma-separated text."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        return sorted({item.strip() for item in (value or "").split(",") if item.strip()})


class CampaignForm(forms.ModelForm):
    categories = ListField(required=False, help_text=_("Comma-separated; empty for all."))
    skus = ListField(required=False, label=_("SKUs"), help_text=_("Comma-separated; empty for all."))
    channels = ListField(required=False, help_text=_("Comma-separated: online, in_store, partner; empty for all."))
    stores = ListField(required=False, help_text=_("Comma-separated; empty for all."))

    class Meta:
        model = Campaign
        fields = [name for name in Campaign.RULE_FIELDS if name != "kind"] + [
            "name",
            "description",
            "kind",
            "budget_points",
            "reward_note",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The admin's split date/time widget writes "Date:" and "Time:" as bare text, which names neither input.
        for name in ("starts_at", "ends_at"):
            widget = self.fields[name].widget if name in self.fields else None
            if widget is not None and hasattr(widget, "widgets"):
                label = self.fields[name].label
                widget.widgets[0].attrs["aria-label"] = _("%(field)s: date") % {"field": label}
                widget.widgets[1].attrs["aria-label"] = _("%(field)s: time") % {"field": label}

    def clean_channels(self):
        from members.models import Purchase

        channels = self.cleaned_data["channels"]
        unknown = set(channels) - set(Purchase.Channel.values)
        if unknown:
            raise forms.ValidationError(_("Unknown channel(s): %(names)s") % {"names": ", ".join(sorted(unknown))})
        return channels

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        probe = copy.copy(self.instance)
        for name, value in self._model_values().items():
            setattr(probe, name, value)
        try:
            campaign_check(probe, complete=False)
        except LoyaltyError as error:
            apply_domain_error(self, error)
        return cleaned

    def _model_values(self):
        return {
            name: value for name, value in self.cleaned_data.items() if name in {f.name for f in Campaign._meta.fields}
        }


class CampaignChangeInline(admin.TabularInline):
    model = CampaignChange
    fields = ["created_at", "actor", "action", "from_status", "to_status", "changes"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    verbose_name_plural = _("History")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    view_on_site = False
    list_display = ["name", "kind", "status_badge", "starts_at", "ends_at", "budget_display", "points_awarded"]
    list_filter = ["status", "kind"]
    search_fields = ["name"]
    list_select_related = ["segment"]
    actions = ["schedule_selected", "launch_selected", "pause_selected", "resume_selected", "end_selected"]
    actions += ["copy_selected", "preview_audience"]
    inlines = [CampaignChangeInline]

    def get_fieldsets(self, request, obj=None):
        """Only the fields the campaign's kind uses, so a multiplier never asks for a birthday scope."""
        kind = self._kind(request, obj)
        if kind is None:
            return [(None, {"fields": ["name", "kind"]})]
        layout = KIND_LAYOUT[kind]
        fieldsets = [
            (None, {"fields": ["name", "description", "kind", "status_display", "audience", "budget_summary"]}),
            (_("Schedule"), {"fields": ["starts_at", "ends_at"]}),
            (_("Audience"), {"fields": ["segment", "holdout_percent"]}),
        ]
        for title, fields in SECTIONS:
            shown = [name for name in fields if name in layout]
            if shown:
                fieldsets.append((title, {"fields": shown}))
        if kind in Campaign.EMAIL_KINDS:
            fieldsets.append((_("Email"), {"fields": ["email_subject", "email_body", "email_preview"]}))
        return fieldsets

    def _kind(self, request, obj) -> str | None:
        if obj is not None and obj.pk:
            return obj.kind
        kind = request.POST.get("kind") or request.GET.get("kind")
        return kind if kind in Campaign.Kind.values else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        kind = self._kind(request, obj)
        # The list fields are declared on the form, so the factory keeps them whatever the fieldsets say.
        wanted = {name for _title, options in self.get_fieldsets(request, obj) for name in options["fields"]}
        for name in set(form.base_fields) - wanted:
            del form.base_fields[name]
        if obj is None and kind is not None and "kind" in form.base_fields:
            # Chosen on the previous step: carried along, not offered again beside the fields it decided.
            form.base_fields["kind"].widget = forms.HiddenInput()
            form.base_fields["kind"].initial = kind
        for name, text in KIND_HELP_TEXTS.get(kind, {}).items():
            if name in form.base_fields:
                form.base_fields[name].help_text = text
        return form

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "GET" and self._kind(request, None) is None:
            if not self.has_add_permission(request):
                raise PermissionDenied
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("What kind of campaign?"),
                "kinds": [(value, label, KIND_DESCRIPTIONS[value]) for value, label in Campaign.Kind.choices],
            }
            return TemplateResponse(request, "admin/campaigns/campaign/choose_kind.html", context)
        extra_context = {**(extra_context or {}), "chosen_kind": Campaign.Kind(self._kind(request, None)).label}
        return super().add_view(request, form_url, extra_context)

    # --- display ---

    @admin.display(description=_("Status"), ordering="status")
    def status_badge(self, obj):
        if obj.budget_exhausted and obj.status in Campaign.LIVE_STATUSES:
            return format_html("{} · <strong>{}</strong>", obj.get_status_display(), _("budget exhausted"))
        return obj.get_status_display()

    @admin.display(description=_("Status"))
    def status_display(self, obj):
        return self.status_badge(obj) if obj and obj.pk else Campaign.Status.DRAFT.label

    @admin.display(description=_("Budget"))
    def budget_display(self, obj):
        if obj.budget_points is None:
            return "—"
        if obj.budget_exhausted:
            return _("Budget exhausted (%(total)s)") % {"total": f"{obj.budget_points:,}"}
        return f"{obj.points_awarded:,} / {obj.budget_points:,}"

    @admin.display(description=_("Preview"))
    def email_preview(self, obj):
        if not obj or not obj.pk:
            return _("Save the draft to see the email as a member will read it.")
        preview = services.campaign_email_preview(obj)
        return format_html(
            '<div class="email-preview"><p><strong>{}</strong> {}</p><pre>{}</pre></div><p class="help">{}</p>',
            _("Subject:"),
            preview.subject,
            preview.text,
            _("With a sample member's values (Alex, 1,250 points); saved changes show here."),
        )

    @admin.display(description=_("Audience now"))
    def audience(self, obj):
        if not obj or not obj.pk:
            return _("Save the draft to see its audience size.")
        total, holdout = audience_split(obj)
        return _("%(total)s members (%(holdout)s in the holdout group, %(treated)s get the campaign)") % {
            "total": f"{total:,}",
            "holdout": f"{holdout:,}",
            "treated": f"{total - holdout:,}",
        }

    @admin.display(description=_("Points awarded"))
    def budget_summary(self, obj):
        if not obj or not obj.pk:
            return "—"
        text = self.budget_display(obj) if obj.budget_points is not None else f"{obj.points_awarded:,}"
        return format_html(
            '{} · <a href="{}">{}</a>', text, reverse("admin:campaigns_campaign_report", args=[obj.pk]), _("Report")
        )

    def get_readonly_fields(self, request, obj=None):
        always = ["status_display", "audience", "budget_summary", "email_preview"]
        if obj is None:
            return always
        if obj.is_draft:
            # The kind decided which fields exist; a different kind is a new campaign (Copy keeps the rest).
            return [*always, "kind"]
        editable = set(Campaign.LIVE_EDITABLE_FIELDS)
        if obj.status == Campaign.Status.ENDED:
            editable = {"name", "description"}
        fieldsets = self.get_fieldsets(request, obj)
        rules = [f for fs in fieldsets for f in fs[1]["fields"] if f not in editable and f not in always]
        return always + rules

    def has_delete_permission(self, request, obj=None):
        # Only drafts can go: anything launched may have ledger entries pointing at it.
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_draft)

    # --- saving through the services ---

    def save_model(self, request, obj, form, change):
        data = {name: value for name, value in form.cleaned_data.items() if name in form.fields}
        if not change:
            name, kind = data.pop("name"), data.pop("kind")
            data = {
                k: v
                for k, v in data.items()
                if k in set(Campaign.RULE_FIELDS) | {"description", "budget_points", "reward_note"}
            }
            campaign = services.campaign_create(actor=request.user, name=name, kind=kind, **data)
            obj.pk = campaign.pk
            obj._state.adding = False
            obj._state.db = campaign._state.db
            return
        changes = {name: data[name] for name in form.changed_data if name in data}
        if changes:
            services.campaign_update(campaign=obj, actor=request.user, **changes)

    def delete_model(self, request, obj):
        services.campaign_delete(campaign=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for campaign in queryset:
            try:
                services.campaign_delete(campaign=campaign, actor=request.user)
            except LoyaltyError as error:
                self.message_user(request, f"{campaign}: {error.message}", messages.ERROR)

    # --- status changes ---

    def get_urls(self):
        return [
            path("<int:pk>/report/", self.admin_site.admin_view(self.report_view), name="campaigns_campaign_report"),
            path(
                "<int:pk>/transition/<str:action>/",
                self.admin_site.admin_view(require_POST(self.transition_view)),
                name="campaigns_campaign_transition",
            ),
            path(
                "<int:pk>/copy/",
                self.admin_site.admin_view(require_POST(self.copy_view)),
                name="campaigns_campaign_copy",
            ),
            *super().get_urls(),
        ]

    def _apply(self, request, campaign, action) -> bool:
        try:
            ACTIONS[action](campaign=campaign, actor=request.user)
        except LoyaltyError as error:
            self.message_user(request, f"{campaign}: {error.message}", messages.ERROR)
            return False
        return True

    def transition_view(self, request, pk, action):
        campaign = get_object_or_404(Campaign, pk=pk)
        if action not in ACTIONS:
            raise PermissionDenied
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        if self._apply(request, campaign, action):
            self.message_user(
                request, _("%(name)s: done (%(action)s).") % {"name": campaign, "action": ACTION_LABELS[action]}
            )
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[pk]))

    def copy_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        duplicate = services.campaign_copy(campaign=campaign, actor=request.user)
        self.message_user(request, _("Copied into a new draft."))
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[duplicate.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = self.get_object(request, object_id)
        if campaign is not None:
            extra_context["status_actions"] = [
                (action, ACTION_LABELS[action])
                for action, (sources, _target) in TRANSITIONS.items()
                if campaign.status in sources
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def _bulk(self, request, queryset, action):
        done = sum(self._apply(request, campaign, action) for campaign in queryset)
        if done:
            self.message_user(
                request, _("%(count)s campaign(s): %(action)s.") % {"count": done, "action": ACTION_LABELS[action]}
            )

    @admin.action(description=_("Schedule selected campaigns"), permissions=["change"])
    def schedule_selected(self, request, queryset):
        self._bulk(request, queryset, "schedule")

    @admin.action(description=_("Launch selected campaigns now"), permissions=["change"])
    def launch_selected(self, request, queryset):
        self._bulk(request, queryset, "launch")

    @admin.action(description=_("Pause selected campaigns"), permissions=["change"])
    def pause_selected(self, request, queryset):
        self._bulk(request, queryset, "pause")

    @admin.action(description=_("Resume selected campaigns"), permissions=["change"])
    def resume_selected(self, request, queryset):
        self._bulk(request, queryset, "resume")

    @admin.action(description=_("End selected campaigns"), permissions=["change"])
    def end_selected(self, request, queryset):
        self._bulk(request, queryset, "end")

    @admin.action(description=_("Copy selected campaigns into new drafts"), permissions=["add"])
    def copy_selected(self, request, queryset):
        for campaign in queryset:
            services.campaign_copy(campaign=campaign, actor=request.user)
        self.message_user(request, _("Copied %(count)s campaign(s).") % {"count": queryset.count()})

    @admin.action(description=_("Preview audience size"), permissions=["view"])
    def preview_audience(self, request, queryset):
        for campaign in queryset.select_related("segment"):
            total, holdout = audience_split(campaign)
            self.message_user(
                request,
                _("%(name)s: %(total)s members, %(holdout)s in the holdout group.")
                % {"name": campaign, "total": f"{total:,}", "holdout": f"{holdout:,}"},
            )

    # --- report ---

    def report_view(self, request, pk):
        campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
        if not (request.user.has_perm("campaigns.report_campaign") or request.user.is_superuser):
            raise PermissionDenied
        report = campaign_report(campaign)
        days = days_filled(report.points_by_day)
        chart = bar_chart(
            [(day.strftime("%d %b"), points) for day, points in days],
            title=_("Points awarded per day"),
            x_label=_("day"),
            y_label=_("points"),
            width=720,
            height=240,
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "title": _("Report: %(name)s") % {"name": campaign},
            "report": report,
            "chart": chart if days else None,
            "points_by_day": days,
            "min_buyers": MIN_BUYERS_FOR_LIFT,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/report.html", context)


class SegmentListForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("First column: member number or email address."))
    excluded = forms.TypedChoiceField(
        label=_("List"),
        choices=[("0", _("Include these members")), ("1", _("Exclude these members"))],
        coerce=lambda value: value == "1",
    )
    replace = forms.BooleanField(label=_("Replace that list (instead of adding to it)"), required=False)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "base", "updated_at"]
    search_fields = ["name"]
    filter_horizontal = ["tiers"]
    readonly_fields = ["audience_size", "list_sizes"]
    fieldsets = [
        (None, {"fields": ["name", "description", "base", "audience_size", "list_sizes"]}),
        (_("Who"), {"fields": ["tiers", "enrolled_from", "enrolled_to", "birthday_month", "marketing_consent"]}),
        (
            _("Behaviour"),
            {
                "fields": [
                    "purchased_within_days",
                    "no_purchase_for_days",
                    "spend_period",
                    "spend_min",
                    "spend_max",
                    "purchases_min",
                    "purchases_max",
                    "channel",
                    "balance_min",
                ]
            },
        ),
        (_("Feedback (NPS)"), {"fields": ["feedback_group", "feedback_within_days"]}),
    ]

    def save_model(self, request, obj, form, change):
        services.segment_save(segment=obj, actor=request.user, tiers=form.cleaned_data.get("tiers"))

    def save_related(self, request, form, formsets, change):
        pass  # the tiers are saved with the segment (segment_save), and a segment has no inlines

    def delete_model(self, request, obj):
        services.segment_delete(segment=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for segment in queryset:
            services.segment_delete(segment=segment, actor=request.user)

    @admin.display(description=_("Preview"))
    def email_preview(self, obj):
        if not obj or not obj.pk:
            return _("Save the draft to see the email as a member will read it.")
        preview = services.campaign_email_preview(obj)
        return format_html(
            '<div class="email-preview"><p><strong>{}</strong> {}</p><pre>{}</pre></div><p class="help">{}</p>',
            _("Subject:"),
            preview.subject,
            preview.text,
            _("With a sample member's values (Alex, 1,250 points); saved changes show here."),
        )

    @admin.display(description=_("Audience now"))
    def audience_size(self, obj):
        if not obj or not obj.pk:
            return _("Save to see the audience size.")
        return _("%(count)s active members") % {"count": f"{segment_size(obj):,}"}

    @admin.display(description=_("Lists"))
    def list_sizes(self, obj):
        if not obj or not obj.pk:
            return "—"
        included = SegmentMember.objects.filter(segment=obj, excluded=False).count()
        excluded = SegmentMember.objects.filter(segment=obj, excluded=True).count()
        return format_html(
            '{} · <a href="{}">{}</a>',
            _("%(included)s included, %(excluded)s excluded by hand") % {"included": included, "excluded": excluded},
            reverse("admin:campaigns_segment_upload", args=[obj.pk]),
            _("Upload a CSV list"),
        )

    def get_urls(self):
        return [
            path("<int:pk>/upload/", self.admin_site.admin_view(self.upload_view), name="campaigns_segment_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        if not self.has_change_permission(request, segment):
            raise PermissionDenied
        form = SegmentListForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > 20 * 1024 * 1024:
                form.add_error("file", _("The file is larger than 20 MB."))
            else:
                try:
                    result = services.segment_list_upload(
                        segment=segment,
                        content=upload.read(),
                        excluded=form.cleaned_data["excluded"],
                        replace=form.cleaned_data["replace"],
                    )
                except LoyaltyError as error:
                    apply_domain_error(form, error)
                else:
                    self.message_user(
                        request,
                        _("%(matched)s members listed (%(added)s new); %(unknown)s rows not found%(sample)s.")
                        % {
                            "matched": result.matched,
                            "added": result.added,
                            "unknown": len(result.unknown),
                            "sample": f": {', '.join(result.unknown[:10])}" if result.unknown else "",
                        },
                        messages.WARNING if result.unknown else messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:campaigns_segment_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": segment,
            "title": _("Upload a list for %(name)s") % {"name": segment},
            "form": form,
        }
        return TemplateResponse(request, "admin/campaigns/segment/upload.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CampaignParticipation)
class CampaignParticipationAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "member", "points_awarded", "points_clawed_back", "awards", "first_at", "holdout"]
    list_filter = ["holdout", "campaign"]
    list_select_related = ["campaign", "member__user"]
    raw_id_fields = ["member"]
    search_fields = ["member__member_number"]


@admin.register(CampaignEmail)
class CampaignEmailAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "member", "status", "claimed_at", "sent_at", "error"]
    list_filter = ["status", "campaign"]
    list_select_related = ["campaign", "member__user"]
    search_fields = ["member__member_number"]


@admin.register(CampaignChange)
class CampaignChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "campaign", "actor", "action", "from_status", "to_status"]
    list_filter = ["action"]
    list_select_related = ["campaign", "actor"]
