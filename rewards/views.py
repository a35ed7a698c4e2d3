from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import Role
from accounts.tenancy import org_member_required
from accounts.views import add_form_errors
from referrals.models import Program

from . import selectors, services
from .forms import RewardRuleForm
from .models import Reward


@org_member_required(Role.MANAGER)
def rule_create(request, program_pk: int):
    program = get_object_or_404(
        Program.objects.for_organization(request.organization), pk=program_pk
    )
    form = RewardRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_create(program=program, **form.cleaned_data)
        except ValidationError as error:
            add_form_errors(form, error)
        else:
            messages.success(request, "Reward rule added.")
            return redirect("referrals:program_detail", pk=program.pk)
    return render(
        request,
        "rewards/rule_form.html",
        {"form": form, "program": program},
        status=400 if form.errors else 200,
    )


@org_member_required()
def reward_list(request):
    status = request.GET.get("status", "")
    qs = selectors.reward_list(organization=request.organization, status=status)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "rewards/reward_list.html",
        {"page": page, "status": status, "statuses": Reward.Status.choices},
    )
