"""engine: tasks, task_events, workflows, agent_events, workers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE workflows (
            id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            type          text NOT NULL,
            status        text NOT NULL DEFAULT 'running'
                          CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
            input         jsonb NOT NULL DEFAULT '{}',
            context       jsonb NOT NULL DEFAULT '{}',
            current_steps text[] NOT NULL DEFAULT '{}',
            error         jsonb,
            created_by    text,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            finished_at   timestamptz
        );
        CREATE INDEX workflows_status_created ON workflows (status, created_at DESC);
        CREATE INDEX workflows_type_created ON workflows (type, created_at DESC);

        -- fillfactor leaves room on each page so status/lease updates stay HOT updates.
        CREATE TABLE tasks (
            id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            workflow_id        uuid REFERENCES workflows (id) ON DELETE SET NULL,
            step               text,
            step_index         integer,
            agent_name         text NOT NULL,
            task_type          text NOT NULL,
            payload            jsonb NOT NULL DEFAULT '{}',
            priority           smallint NOT NULL DEFAULT 5 CHECK (priority >= 0),
            status             text NOT NULL DEFAULT 'pending' CHECK (status IN
                               ('pending', 'running', 'completed', 'dead', 'quarantined',
                                'cancelled')),
            attempts           integer NOT NULL DEFAULT 0,
            max_attempts       integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
            available_at       timestamptz NOT NULL DEFAULT now(),
            lease_owner        text,
            lease_expires_at   timestamptz,
            lease_epoch        bigint NOT NULL DEFAULT 0,
            idempotency_key    text,
            error_info         jsonb,
            result             jsonb,
            quarantine_reason  text,
            quarantined_by     text,
            quarantined_until  timestamptz,
            created_at         timestamptz NOT NULL DEFAULT now(),
            updated_at         timestamptz NOT NULL DEFAULT now(),
            started_at         timestamptz,
            finished_at        timestamptz
        ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,
                autovacuum_analyze_scale_factor = 0.02);
        -- Every status change is a non-HOT update that inserts into each index whose predicate
        -- the new row matches, so the indexes are partial wherever they can be: a no-op task's
        -- whole life touches pk + claimable, pk + running, pk + finished.
        CREATE UNIQUE INDEX tasks_idempotency ON tasks (idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        -- The claim query walks this partial index in (priority, available_at) order.
        CREATE INDEX tasks_claimable ON tasks (priority, available_at) WHERE status = 'pending';
        -- Lease rescue and per-agent running counts: the running set is small (<= total
        -- concurrency). lease_expires_at is deliberately not indexed so heartbeats stay HOT.
        CREATE INDEX tasks_running ON tasks (agent_name) WHERE status = 'running';
        -- Admin filters over the parked states; pending tasks are found through
        -- tasks_claimable, running ones through tasks_running, completed ones through
        -- tasks_finished.
        CREATE INDEX tasks_parked ON tasks (status, agent_name, created_at)
            WHERE status IN ('dead', 'quarantined', 'cancelled');
        CREATE INDEX tasks_workflow ON tasks (workflow_id, step) WHERE workflow_id IS NOT NULL;
        CREATE INDEX tasks_finished ON tasks (finished_at) WHERE status = 'completed';

        -- An append-only log read by task (task_events_task) or by time (BRIN): a primary-key
        -- index would only add one more index insert to every transition on the hot path.
        CREATE TABLE task_events (
            id          bigint GENERATED ALWAYS AS IDENTITY,
            task_id     uuid NOT NULL,
            from_status text,
            to_status   text NOT NULL,
            actor       text NOT NULL,
            reason      text,
            attempt     integer,
            at          timestamptz NOT NULL DEFAULT now()
        ) WITH (autovacuum_vacuum_scale_factor = 0.05);
        CREATE INDEX task_events_task ON task_events (task_id, id);
        CREATE INDEX task_events_at ON task_events USING brin (at);

        CREATE TABLE agent_events (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            agent_name     text NOT NULL,
            task_id        uuid,
            workflow_id    uuid,
            event_type     text NOT NULL,
            reasoning      text,
            error          jsonb,
            input_summary  text,
            output         jsonb,
            confidence     double precision,
            provider       text,
            model          text,
            prompt_version text,
            tokens_in      integer,
            tokens_out     integer,
            cost_estimate  numeric(12, 6),
            latency_ms     double precision,
            at             timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX agent_events_agent_at ON agent_events (agent_name, at DESC);
        CREATE INDEX agent_events_task ON agent_events (task_id);
        CREATE INDEX agent_events_workflow ON agent_events (workflow_id)
            WHERE workflow_id IS NOT NULL;
        CREATE INDEX agent_events_failed ON agent_events (at DESC) WHERE event_type <> 'succeeded';

        CREATE TABLE workers (
            id             text PRIMARY KEY,
            host           text NOT NULL,
            pid            integer NOT NULL,
            version        text NOT NULL,
            agents         text[],
            concurrency    integer NOT NULL,
            running        integer NOT NULL DEFAULT 0,
            status         text NOT NULL DEFAULT 'running'
                           CHECK (status IN ('running', 'draining', 'stopped')),
            started_at     timestamptz NOT NULL DEFAULT now(),
            last_heartbeat timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE workers;
        DROP TABLE agent_events;
        DROP TABLE task_events;
        DROP TABLE tasks;
        DROP TABLE workflows;
        """
    )
