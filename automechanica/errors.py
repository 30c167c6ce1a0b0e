"""The one error hierarchy of automechanica.

Every error a user can cause or meet derives from ``AutomechanicaError``; the CLI maps them to
exit codes and the API to HTTP statuses in one place each (``cli/main.py``, ``api/errors.py``).

    AutomechanicaError
     +-- ConfigError                 bad settings (env vars, .env); exit 2
     +-- InvalidInput                bad CLI argument or API body; HTTP 422, exit 2
     +-- NotFound                    HTTP 404, exit 4
     +-- Conflict                    HTTP 409, exit 5
     +-- DatabaseError
     |    +-- DatabaseUnavailable    unreachable, with a failure class; HTTP 503, exit 3
     |    +-- SchemaOutOfDate        migrations pending; exit 3
     |    +-- EmbeddedServerError    the embedded PostgreSQL failed to start/stop; exit 3
     |    +-- NotEmbedded            a command that only applies to the embedded server; exit 2
     +-- QueueError
     |    +-- IllegalTransition      a task state change the state machine forbids; HTTP 409
     |    +-- LeaseLost              the caller no longer owns the task's lease
     +-- AgentError
     |    +-- NonRetryableError      raised by an agent: the task goes dead at once
     |    +-- UnknownAgent           no agent registered for (agent, task_type)
     +-- WorkflowError
     +-- LLMError
          +-- ProviderError          one provider call failed (retryable unless said otherwise)
          +-- AllProvidersFailed     the whole fallback chain failed
"""

from __future__ import annotations

from typing import Any


class AutomechanicaError(Exception):
    """Something went wrong."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())
        self.message = message or (self.__doc__ or self.code).strip()
        self.details = details


class ConfigError(AutomechanicaError):
    """The settings are invalid."""

    code = "config_invalid"
    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


class InvalidInput(AutomechanicaError):
    """The input is invalid."""

    code = "invalid_input"
    http_status = 422
    exit_code = 2


class NotFound(AutomechanicaError):
    """Not found."""

    code = "not_found"
    http_status = 404
    exit_code = 4


class Conflict(AutomechanicaError):
    """The request conflicts with the current state."""

    code = "conflict"
    http_status = 409
    exit_code = 5


class DatabaseError(AutomechanicaError):
    """The database failed."""

    code = "database_error"
    http_status = 503
    exit_code = 3


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached."""

    code = "database_unavailable"

    def __init__(self, message: str, *, failure: str, fix: str) -> None:
        super().__init__(message, details={"failure": failure, "fix": fix})
        self.failure = failure
        self.fix = fix


class SchemaOutOfDate(DatabaseError):
    """The database schema is behind the code: run `automechanica db migrate`."""

    code = "schema_out_of_date"


class EmbeddedServerError(DatabaseError):
    """The embedded PostgreSQL server failed."""

    code = "embedded_server_error"


class NotEmbedded(DatabaseError):
    """This command only applies to the embedded PostgreSQL server."""

    code = "not_embedded"
    http_status = 409
    exit_code = 2


class QueueError(AutomechanicaError):
    """The task queue refused the operation."""

    code = "queue_error"
    http_status = 409
    exit_code = 5


class IllegalTransition(QueueError):
    """That task state change is not allowed."""

    code = "illegal_transition"


class LeaseLost(QueueError):
    """The task's lease is no longer held by this worker."""

    code = "lease_lost"


class AgentError(AutomechanicaError):
    """An agent failed."""

    code = "agent_error"


class NonRetryableError(AgentError):
    """The agent says retrying cannot help."""

    code = "non_retryable"


class UnknownAgent(AgentError):
    """No agent is registered for this agent name and task type."""

    code = "unknown_agent"


class WorkflowError(AutomechanicaError):
    """The workflow could not be run."""

    code = "workflow_error"
    http_status = 422
    exit_code = 2


class LLMError(AutomechanicaError):
    """The LLM call failed."""

    code = "llm_error"
    http_status = 502


class ProviderError(LLMError):
    """One LLM provider call failed."""

    code = "provider_error"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class AllProvidersFailed(LLMError):
    """Every provider in the fallback chain failed."""

    code = "all_providers_failed"
