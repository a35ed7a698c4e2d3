"""Programs: create and change them; a change reaches the cached link snapshots at once."""

from accounts.models import Organization

from ..models import Program


def program_create(*, organization: Organization, **fields) -> Program:
    program = Program(organization=organization, **fields)
    program.full_clean()
    program.save()
    return program


def program_update(*, program: Program, **fields) -> Program:
    for name, value in fields.items():
        setattr(program, name, value)
    program.full_clean()
    program.save()  # referrals.linkcache forgets its links on this save
    return program
