"""A local Google Ads API for the connector's tests: gRPC over TLS, the SDK's own messages.

:class:`FakeGoogleAds` keeps one customer in memory (campaigns, their budgets, ad groups
and hourly metrics) and serves the four methods the connector uses:

- ``GoogleAdsService.SearchStream`` for the few GAQL queries the connector sends (the
  resource after ``FROM``, ``segments.date BETWEEN 'a' AND 'b'`` and ``campaign.id = n``
  are understood; every other clause is ignored and every known field answered);
- ``CampaignBudgetService.MutateCampaignBudgets`` (``amount_micros``),
  ``CampaignService.MutateCampaigns`` (``status``), ``AdGroupService.MutateAdGroups``
  (``cpc_bid_micros``), each with ``validate_only`` and ``partial_failure``.

Failures come back as the real API sends them: a ``GoogleAdsFailure`` serialized into the
trailing metadata key ``google.ads.googleads.<version>.errors.googleadsfailure-bin`` with
the matching gRPC status, and a ``request-id`` on every answer. OAuth is served too: an
HTTP token endpoint hands out access tokens for the refresh token it was made with, and
the gRPC methods accept only a token it issued and has not expired.

Injectable behaviours (:meth:`FakeGoogleAds.inject`): ``concurrent_modification``,
``quota`` (with a retry delay), ``token_expired``, ``permission_denied``,
``commit_then_drop`` (the mutate is committed, then the call fails as a dropped connection
does), ``commit_then_hang`` (committed, and the answer comes after the caller's deadline);
and the minimum daily budget (:attr:`FakeGoogleAds.min_budget_micros`).
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import ipaddress
import itertools
import os
import re
import secrets
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import grpc
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.ads.googleads.v26.common.types import metrics as metrics_types
from google.ads.googleads.v26.common.types import segments as segments_types
from google.ads.googleads.v26.enums.types import (
    ad_group_status,
    bidding_strategy_type,
    campaign_status,
)
from google.ads.googleads.v26.errors.types import errors as error_types
from google.ads.googleads.v26.errors.types.authentication_error import AuthenticationErrorEnum
from google.ads.googleads.v26.errors.types.authorization_error import AuthorizationErrorEnum
from google.ads.googleads.v26.errors.types.campaign_budget_error import CampaignBudgetErrorEnum
from google.ads.googleads.v26.errors.types.database_error import DatabaseErrorEnum
from google.ads.googleads.v26.errors.types.field_error import FieldErrorEnum
from google.ads.googleads.v26.errors.types.mutate_error import MutateErrorEnum
from google.ads.googleads.v26.errors.types.quota_error import QuotaErrorEnum
from google.ads.googleads.v26.resources.types import ad_group as ad_group_types
from google.ads.googleads.v26.resources.types import campaign as campaign_types
from google.ads.googleads.v26.resources.types import campaign_budget as budget_types
from google.ads.googleads.v26.resources.types import customer as customer_types
from google.ads.googleads.v26.services.types import (
    ad_group_service,
    campaign_budget_service,
    campaign_service,
    google_ads_service,
)
from google.protobuf import any_pb2, duration_pb2
from google.rpc import status_pb2

VERSION = "v26"
FAILURE_KEY = f"google.ads.googleads.{VERSION}.errors.googleadsfailure-bin"
SERVICES = f"google.ads.googleads.{VERSION}.services"
REFRESH_TOKEN = "fake-refresh-token"
CLIENT_ID = "fake-client.apps.googleusercontent.com"
CLIENT_SECRET = "fake-client-secret"
DEVELOPER_TOKEN = "fake-developer-token"

CampaignStatus = campaign_status.CampaignStatusEnum.CampaignStatus
AdGroupStatus = ad_group_status.AdGroupStatusEnum.AdGroupStatus
BiddingStrategyType = bidding_strategy_type.BiddingStrategyTypeEnum.BiddingStrategyType

FAULTS = (
    "concurrent_modification",
    "quota",
    "token_expired",
    "commit_then_drop",
    "commit_then_hang",
    "permission_denied",
)
_CA: tuple[bytes, bytes, str] | None = None


def tls_identity() -> tuple[bytes, bytes, str]:
    """A self-signed certificate for ``localhost`` (key PEM, certificate PEM, its file).

    gRPC reads ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` once per process, so the certificate
    is made once per process, written to a file, and the variable pointed at it."""
    global _CA
    if _CA is None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        handle, path = tempfile.mkstemp(prefix="fake-google-ads-", suffix=".pem")
        with os.fdopen(handle, "wb") as out:
            out.write(cert_pem)
        atexit.register(os.unlink, path)
        os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = path
        _CA = (key_pem, cert_pem, path)
    return _CA


@dataclass
class FakeCampaign:
    id: int
    name: str
    status: str  # ENABLED, PAUSED, REMOVED
    budget_id: int
    bidding: str = "MANUAL_CPC"


@dataclass
class FakeBudget:
    id: int
    amount_micros: int
    explicitly_shared: bool = False


@dataclass
class FakeAdGroup:
    id: int
    campaign_id: int
    cpc_bid_micros: int
    status: str = "ENABLED"


@dataclass
class FakeHour:
    """One campaign's metrics for one hour of the account's day (its time zone)."""

    campaign_id: int
    date: dt.date
    hour: int
    cost_micros: int
    clicks: int
    impressions: int
    conversions: float
    conversions_value: float


@dataclass
class Fault:
    kind: str
    method: str | None  # None: any method
    retry_delay: float = 0.0


@dataclass
class Call:
    """One RPC the fake answered: method, request id, validate-only, and its outcome."""

    method: str
    request_id: str
    validate_only: bool
    code: grpc.StatusCode
    operations: int = 0

    @property
    def succeeded(self) -> bool:
        return self.code == grpc.StatusCode.OK


class _Refused(Exception):
    def __init__(self, status: grpc.StatusCode, error: error_types.GoogleAdsError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error


def _error(message: str, index: int | None = None, **code: Any) -> error_types.GoogleAdsError:
    error = error_types.GoogleAdsError(message=message, error_code=error_types.ErrorCode(**code))
    if index is not None:
        error.location = error_types.ErrorLocation(
            field_path_elements=[
                error_types.ErrorLocation.FieldPathElement(field_name="operations", index=index)
            ]
        )
    return error


@dataclass
class FakeGoogleAds:
    """One Google Ads customer behind a TLS gRPC server and an OAuth token endpoint."""

    customer_id: str = "1234567890"
    time_zone: str = "America/New_York"
    currency: str = "USD"
    min_budget_micros: int = 1_000_000
    hang_seconds: float = 3.0
    campaigns: dict[int, FakeCampaign] = field(default_factory=dict)
    budgets: dict[int, FakeBudget] = field(default_factory=dict)
    ad_groups: dict[int, FakeAdGroup] = field(default_factory=dict)
    hours: list[FakeHour] = field(default_factory=list)
    # Campaign -> the moment from which it converts no more: its report rows for the
    # hours starting then or later say the clicks went on and nothing converted.
    collapse: dict[int, dt.datetime] = field(default_factory=dict)
    # Every mutate operation the account committed: (method, resource id, field, value).
    committed: list[tuple[str, int, str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    tokens_issued: int = 0
    # Where to listen (0: any free port): gRPC on ``localhost``, OAuth on 127.0.0.1.
    port: int = 0
    token_port: int = 0
    # The user withdrew adpilot's access: the refresh token no longer buys access tokens.
    grant_revoked: bool = False
    endpoint: str = ""
    token_uri: str = ""
    _valid_tokens: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _server: grpc.aio.Server | None = None
    _http: web.AppRunner | None = None

    # --- the account ---------------------------------------------------------------

    def add_campaign(
        self,
        campaign_id: int,
        name: str,
        *,
        budget_micros: int,
        status: str = "ENABLED",
        bids: tuple[int, ...] = (1_000_000,),
        shared_budget: bool = False,
        bidding: str = "MANUAL_CPC",
    ) -> None:
        budget_id = campaign_id * 10
        self.budgets[budget_id] = FakeBudget(budget_id, budget_micros, shared_budget)
        self.campaigns[campaign_id] = FakeCampaign(campaign_id, name, status, budget_id, bidding)
        for n, bid in enumerate(bids, start=1):
            group_id = campaign_id * 100 + n
            self.ad_groups[group_id] = FakeAdGroup(group_id, campaign_id, bid)

    def add_hour(self, campaign_id: int, local_date: dt.date, hour: int, **figures: Any) -> None:
        defaults: dict[str, Any] = {
            "cost_micros": 0,
            "clicks": 0,
            "impressions": 0,
            "conversions": 0.0,
            "conversions_value": 0.0,
        }
        defaults.update(figures)
        self.hours.append(FakeHour(campaign_id, local_date, hour, **defaults))

    def inject(self, kind: str, *, method: str | None = None, retry_delay: float = 0.0) -> None:
        """Make the next call (to ``method``, or any) fail as ``kind`` does."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {FAULTS}")
        self.faults.append(Fault(kind, method, retry_delay))

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (the refresh token still does)."""
        self._valid_tokens.clear()

    def revoke_grant(self) -> None:
        """The user withdraws access: issued tokens stop working, none is issued again."""
        self.grant_revoked = True
        self.expire_tokens()

    def mutations(self, method: str | None = None) -> list[tuple[str, int, str, Any]]:
        return [m for m in self.committed if method is None or m[0] == method]

    # --- serving -------------------------------------------------------------------

    async def start(self) -> None:
        key_pem, cert_pem, _path = tls_identity()
        server = grpc.aio.server()
        handlers = {
            "GoogleAdsService": {
                "SearchStream": grpc.unary_stream_rpc_method_handler(
                    self._search_stream,
                    request_deserializer=google_ads_service.SearchGoogleAdsStreamRequest.deserialize,
                    response_serializer=google_ads_service.SearchGoogleAdsStreamResponse.serialize,
                )
            },
            "CampaignBudgetService": {
                "MutateCampaignBudgets": self._unary(
                    self._mutate_budgets, campaign_budget_service, "CampaignBudgets"
                )
            },
            "CampaignService": {
                "MutateCampaigns": self._unary(
                    self._mutate_campaigns, campaign_service, "Campaigns"
                )
            },
            "AdGroupService": {
                "MutateAdGroups": self._unary(self._mutate_ad_groups, ad_group_service, "AdGroups")
            },
        }
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(f"{SERVICES}.{service}", methods)
                for service, methods in handlers.items()
            ]
        )
        port = server.add_secure_port(
            f"localhost:{self.port}", grpc.ssl_server_credentials([(key_pem, cert_pem)])
        )
        await server.start()
        self._server = server
        self.endpoint = f"localhost:{port}"

        app = web.Application()
        app.router.add_post("/token", self._token)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.token_port)
        await site.start()
        self._http = runner
        http_port = runner.addresses[0][1]
        self.token_uri = f"http://127.0.0.1:{http_port}/token"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
            self._server = None
        if self._http is not None:
            await self._http.cleanup()
            self._http = None

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            self.grant_revoked
            or form.get("refresh_token") != REFRESH_TOKEN
            or form.get("client_id") != CLIENT_ID
        ):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Token has been revoked."},
                status=400,
            )
        token = secrets.token_hex(12)
        self._valid_tokens.add(token)
        self.tokens_issued += 1
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    def _unary(self, handler: Callable[..., Any], module: Any, plural: str) -> Any:
        request_type = getattr(module, f"Mutate{plural}Request")
        response_type = getattr(module, f"Mutate{plural}Response")
        return grpc.unary_unary_rpc_method_handler(
            handler,
            request_deserializer=request_type.deserialize,
            response_serializer=response_type.serialize,
        )

    # --- the common part of every call ---------------------------------------------

    async def _admit(self, method: str, context: grpc.aio.ServicerContext, request: Any) -> Call:
        """Check the caller as the API does and fire an injected fault meant for this call.
        Returns the call's record; raises (aborts) when the call fails here."""
        request_id = secrets.token_urlsafe(16)
        validate_only = bool(getattr(request, "validate_only", False))
        call = Call(method, request_id, validate_only, grpc.StatusCode.OK)
        self.calls.append(call)
        await context.send_initial_metadata((("request-id", request_id),))
        metadata = dict(context.invocation_metadata() or ())
        token = str(metadata.get("authorization", "")).removeprefix("Bearer ")
        if metadata.get("developer-token") != DEVELOPER_TOKEN:
            await self._fail(
                context,
                call,
                grpc.StatusCode.UNAUTHENTICATED,
                _error(
                    "The developer token is not valid.",
                    authentication_error=AuthenticationErrorEnum.AuthenticationError.DEVELOPER_TOKEN_INVALID,
                ),
            )
        fault = self._next_fault(method)
        if fault is not None and fault.kind == "token_expired":
            self._valid_tokens.discard(token)
        if token not in self._valid_tokens:
            await self._fail(
                context,
                call,
                grpc.StatusCode.UNAUTHENTICATED,
                _error(
                    "Authentication failed: the OAuth access token has expired.",
                    authentication_error=AuthenticationErrorEnum.AuthenticationError.OAUTH_TOKEN_EXPIRED,
                ),
            )
        if getattr(request, "customer_id", self.customer_id) != self.customer_id:
            await self._fail(
                context,
                call,
                grpc.StatusCode.UNAUTHENTICATED,
                _error(
                    "The customer can't be used.",
                    authentication_error=AuthenticationErrorEnum.AuthenticationError.CUSTOMER_NOT_FOUND,
                ),
            )
        if fault is not None and fault.kind == "permission_denied":
            await self._fail(
                context,
                call,
                grpc.StatusCode.PERMISSION_DENIED,
                _error(
                    "The user does not have permission to access the customer.",
                    authorization_error=AuthorizationErrorEnum.AuthorizationError.USER_PERMISSION_DENIED,
                ),
            )
        if fault is not None and fault.kind == "concurrent_modification":
            await self._fail(
                context,
                call,
                grpc.StatusCode.ABORTED,
                _error(
                    "Multiple requests were attempting to modify the same resource at once.",
                    database_error=DatabaseErrorEnum.DatabaseError.CONCURRENT_MODIFICATION,
                ),
            )
        if fault is not None and fault.kind == "quota":
            error = _error(
                "Too many requests. Retry in a while.",
                quota_error=QuotaErrorEnum.QuotaError.RESOURCE_TEMPORARILY_EXHAUSTED,
            )
            delay = duration_pb2.Duration()
            delay.FromTimedelta(dt.timedelta(seconds=fault.retry_delay))
            error.details = error_types.ErrorDetails(
                quota_error_details=error_types.QuotaErrorDetails(retry_delay=delay)
            )
            await self._fail(context, call, grpc.StatusCode.RESOURCE_EXHAUSTED, error)
        if fault is not None and fault.kind == "commit_then_drop":
            call.code = grpc.StatusCode.UNAVAILABLE  # read by the mutate after committing
        if fault is not None and fault.kind == "commit_then_hang":
            call.code = grpc.StatusCode.DEADLINE_EXCEEDED
        context.set_trailing_metadata((("request-id", request_id),))
        return call

    def _next_fault(self, method: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.method is None or fault.method == method:
                self.faults.remove(fault)
                return fault
        return None

    async def _fail(
        self,
        context: grpc.aio.ServicerContext,
        call: Call,
        status: grpc.StatusCode,
        *failures: error_types.GoogleAdsError,
    ) -> None:
        call.code = status
        failure = error_types.GoogleAdsFailure(errors=list(failures), request_id=call.request_id)
        context.set_trailing_metadata(
            (
                ("request-id", call.request_id),
                (FAILURE_KEY, error_types.GoogleAdsFailure.serialize(failure)),
            )
        )
        await context.abort(status, failures[0].message if failures else status.name)

    # --- reads ---------------------------------------------------------------------

    async def _search_stream(
        self, request: google_ads_service.SearchGoogleAdsStreamRequest, context: Any
    ) -> AsyncIterator[google_ads_service.SearchGoogleAdsStreamResponse]:
        call = await self._admit("SearchStream", context, request)
        query = " ".join(request.query.split())
        found = re.search(r"\bFROM (\w+)", query)
        resource = found.group(1) if found else ""
        only = re.search(r"campaign\.id = (\d+)", query)
        campaign_ids = {int(only.group(1))} if only else set(self.campaigns)
        rows: list[google_ads_service.GoogleAdsRow] = []
        if resource == "customer":
            rows.append(
                google_ads_service.GoogleAdsRow(
                    customer=customer_types.Customer(
                        id=int(self.customer_id),
                        time_zone=self.time_zone,
                        currency_code=self.currency,
                    )
                )
            )
        elif resource == "campaign" and "segments.date" in query:
            rows.extend(self._metric_rows(query, campaign_ids))
        elif resource == "campaign":
            rows.extend(
                google_ads_service.GoogleAdsRow(
                    campaign=self._campaign_message(c),
                    campaign_budget=self._budget_message(self.budgets[c.budget_id]),
                )
                for c in self.campaigns.values()
                if c.id in campaign_ids and c.status != "REMOVED"
            )
        elif resource == "ad_group":
            rows.extend(
                google_ads_service.GoogleAdsRow(
                    campaign=self._campaign_message(self.campaigns[g.campaign_id]),
                    ad_group=self._ad_group_message(g),
                )
                for g in self.ad_groups.values()
                if g.campaign_id in campaign_ids and g.status != "REMOVED"
            )
        else:
            await self._fail(
                context,
                call,
                grpc.StatusCode.INVALID_ARGUMENT,
                _error(f"unsupported query {query!r}", query_error=2),
            )
        # Rows come in batches, as the API streams them.
        for start in range(0, max(len(rows), 1), 2):
            yield google_ads_service.SearchGoogleAdsStreamResponse(
                results=rows[start : start + 2], request_id=call.request_id
            )

    def _metric_rows(
        self, query: str, campaign_ids: set[int]
    ) -> list[google_ads_service.GoogleAdsRow]:
        between = re.search(r"segments\.date BETWEEN '([\d-]+)' AND '([\d-]+)'", query)
        first, last = (
            (dt.date.fromisoformat(between.group(1)), dt.date.fromisoformat(between.group(2)))
            if between
            else (dt.date.min, dt.date.max)
        )
        rows = []
        for h in self.hours:
            if h.campaign_id not in campaign_ids or not first <= h.date <= last:
                continue
            campaign = self.campaigns[h.campaign_id]
            converted = not self._collapsed(h)
            rows.append(
                google_ads_service.GoogleAdsRow(
                    campaign=self._campaign_message(campaign),
                    campaign_budget=self._budget_message(self.budgets[campaign.budget_id]),
                    segments=segments_types.Segments(date=h.date.isoformat(), hour=h.hour),
                    metrics=metrics_types.Metrics(
                        cost_micros=h.cost_micros,
                        clicks=h.clicks,
                        impressions=h.impressions,
                        conversions=h.conversions if converted else 0.0,
                        conversions_value=h.conversions_value if converted else 0.0,
                    ),
                )
            )
        return rows

    def _collapsed(self, h: FakeHour) -> bool:
        since = self.collapse.get(h.campaign_id)
        if since is None:
            return False
        start = dt.datetime.combine(h.date, dt.time(h.hour), tzinfo=ZoneInfo(self.time_zone))
        return start >= since

    def _campaign_message(self, c: FakeCampaign) -> campaign_types.Campaign:
        return campaign_types.Campaign(
            resource_name=f"customers/{self.customer_id}/campaigns/{c.id}",
            id=c.id,
            name=c.name,
            status=CampaignStatus[c.status],
            campaign_budget=f"customers/{self.customer_id}/campaignBudgets/{c.budget_id}",
            bidding_strategy_type=BiddingStrategyType[c.bidding],
        )

    def _budget_message(self, b: FakeBudget) -> budget_types.CampaignBudget:
        return budget_types.CampaignBudget(
            resource_name=f"customers/{self.customer_id}/campaignBudgets/{b.id}",
            id=b.id,
            amount_micros=b.amount_micros,
            explicitly_shared=b.explicitly_shared,
        )

    def _ad_group_message(self, g: FakeAdGroup) -> ad_group_types.AdGroup:
        return ad_group_types.AdGroup(
            resource_name=f"customers/{self.customer_id}/adGroups/{g.id}",
            id=g.id,
            campaign=f"customers/{self.customer_id}/campaigns/{g.campaign_id}",
            status=AdGroupStatus[g.status],
            cpc_bid_micros=g.cpc_bid_micros,
        )

    # --- writes --------------------------------------------------------------------

    def _resource_id(self, resource_name: str, collection: str) -> int | None:
        found = re.fullmatch(rf"customers/{self.customer_id}/{collection}/(\d+)", resource_name)
        return int(found.group(1)) if found else None

    async def _mutate(
        self,
        method: str,
        request: Any,
        context: Any,
        check: Callable[[int, Any], tuple[Callable[[], None], Any] | None],
        response_type: Any,
        result_type: Any,
    ) -> Any:
        """Validate every operation (``check`` answers how to apply it, or raises
        :class:`_Refused`), then apply all, none, or the valid ones (partial failure)."""
        call = await self._admit(method, context, request)
        call.operations = len(request.operations)
        plans: list[tuple[int, Callable[[], None], Any]] = []
        refusals: list[error_types.GoogleAdsError] = []
        for index, operation in enumerate(request.operations):
            try:
                plan = check(index, operation)
            except _Refused as refused:
                refusals.append(refused.error)
                continue
            if plan is not None:
                plans.append((index, *plan))
        if refusals and not request.partial_failure:
            await self._fail(context, call, grpc.StatusCode.INVALID_ARGUMENT, *refusals)
        results = [result_type() for _ in request.operations]
        if not request.validate_only:
            for index, apply, resource_name in plans:
                apply()
                results[index] = result_type(resource_name=resource_name)
        else:
            for index, _apply, resource_name in plans:
                results[index] = result_type(resource_name=resource_name)
        response = response_type(results=results)
        if refusals:
            failure = error_types.GoogleAdsFailure(errors=refusals, request_id=call.request_id)
            detail = any_pb2.Any()
            detail.Pack(error_types.GoogleAdsFailure.pb(failure))
            response.partial_failure_error = status_pb2.Status(
                code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                message=refusals[0].message,
                details=[detail],
            )
        if call.code == grpc.StatusCode.UNAVAILABLE:
            # Committed, but the answer never reaches the caller.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer")
        if call.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            # Committed, then no answer before the caller's deadline.
            await asyncio.sleep(self.hang_seconds)
        return response

    async def _mutate_budgets(self, request: Any, context: Any) -> Any:
        def check(index: int, operation: Any) -> tuple[Callable[[], None], Any] | None:
            update = operation.update
            budget_id = self._resource_id(update.resource_name, "campaignBudgets")
            budget = self.budgets.get(budget_id) if budget_id is not None else None
            if budget is None:
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    _error(
                        "The resource was not found.",
                        index,
                        mutate_error=MutateErrorEnum.MutateError.RESOURCE_NOT_FOUND,
                    ),
                )
            if list(operation.update_mask.paths) != ["amount_micros"]:
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    _error(
                        "Only amount_micros may change here.",
                        index,
                        field_error=FieldErrorEnum.FieldError.IMMUTABLE_FIELD,
                    ),
                )
            amount = update.amount_micros
            unit = {"JPY": 1_000_000, "KRW": 1_000_000, "KWD": 1_000, "BHD": 1_000}.get(
                self.currency, 10_000
            )
            if amount % unit:
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    _error(
                        "Amount is not a multiple of the currency's minimum unit.",
                        index,
                        campaign_budget_error=CampaignBudgetErrorEnum.CampaignBudgetError.NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT,
                    ),
                )
            if amount < self.min_budget_micros:
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    _error(
                        "The budget is below the per-day minimum.",
                        index,
                        campaign_budget_error=CampaignBudgetErrorEnum.CampaignBudgetError.BUDGET_BELOW_PER_DAY_MINIMUM,
                    ),
                )

            def apply() -> None:
                budget.amount_micros = amount
                self.committed.append(("MutateCampaignBudgets", budget.id, "amount_micros", amount))

            return apply, update.resource_name

        return await self._mutate(
            "MutateCampaignBudgets",
            request,
            context,
            check,
            campaign_budget_service.MutateCampaignBudgetsResponse,
            campaign_budget_service.MutateCampaignBudgetResult,
        )

    async def _mutate_campaigns(self, request: Any, context: Any) -> Any:
        def check(index: int, operation: Any) -> tuple[Callable[[], None], Any] | None:
            update = operation.update
            campaign_id = self._resource_id(update.resource_name, "campaigns")
            campaign = self.campaigns.get(campaign_id) if campaign_id is not None else None
            if campaign is None or campaign.status == "REMOVED":
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    _error(
                        "The resource was not found.",
                        index,
                        mutate_error=MutateErrorEnum.MutateError.RESOURCE_NOT_FOUND,
                    ),
                )
            status = CampaignStatus(update.status).name

            def apply() -> None:
                campaign.status = status
                self.committed.append(("MutateCampaigns", campaign.id, "status", status))

            return apply, update.resource_name

        return await self._mutate(
            "MutateCampaigns",
            request,
            context,
            check,
            campaign_service.MutateCampaignsResponse,
            campaign_service.MutateCampaignResult,
        )

    async def _mutate_ad_groups(self, request: Any, context: Any) -> Any:
        def check(index: int, operation: Any) -> tuple[Callable[[], None], Any] | None:
            update = operation.update
            group_id = self._resource_id(update.resource_name, "adGroups")
            group = self.ad_groups.get(group_id) if group_id is not None else None
            if group is None or group.status == "REMOVED":
                raise _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    _error(
                        "The resource was not found.",
                        index,
                        mutate_error=MutateErrorEnum.MutateError.RESOURCE_NOT_FOUND,
                    ),
                )
            bid = update.cpc_bid_micros

            def apply() -> None:
                group.cpc_bid_micros = bid
                self.committed.append(("MutateAdGroups", group.id, "cpc_bid_micros", bid))

            return apply, update.resource_name

        return await self._mutate(
            "MutateAdGroups",
            request,
            context,
            check,
            ad_group_service.MutateAdGroupsResponse,
            ad_group_service.MutateAdGroupResult,
        )


class GoogleAdsPlatform:
    """The fake Google Ads customer and a factory of connectors to it, in adpilot's terms.

    This is the shape a connector contract suite needs from each platform:

    - ``name``, ``account`` (the tenant the connector serves);
    - ``connector(**options)``: a connected :class:`GoogleAdsConnector` (``options``
      override its constructor's, e.g. ``timeout_seconds``, ``recorder``);
    - ``add_campaign(name, daily_budget=, status=, bids=)`` returns adpilot's campaign id;
      ``add_local_hour(campaign_id, local_date, hour, ...)`` adds a report row in the
      account's time zone; ``collapse(campaign_id, since)``: from then on its hours report
      no conversions;
    - ``settings(campaign_id)``: what the platform holds (``daily_budget``, ``status``,
      ``bids``); ``edit(campaign_id, daily_budget=)``: a change made outside adpilot;
    - ``writes(kind)``: operations committed, ``written(kind)``: their values in adpilot's
      terms; ``calls(kind)``: the requests answered (``validate_only``, ``succeeded``,
      ``request_id``), ``kind`` one of ``read``, ``budget``, ``status``, ``bid``;
      ``request_ids()``; ``tokens_issued()``; ``records``: the connector's call records;
      ``sleeps``: the waits the connector asked for (recorded, not waited);
    - ``inject(fault, on=kind, retry_delay=)`` with a platform-neutral fault name
      (:attr:`FAULTS`), ``expire_tokens()``, ``set_min_budget(amount)``.
    """

    name = "google_ads"
    FAULTS = {
        "conflict": "concurrent_modification",
        "rate_limited": "quota",
        "token_expired": "token_expired",
        "commit_then_drop": "commit_then_drop",
        "commit_then_timeout": "commit_then_hang",
        "permission_denied": "permission_denied",
    }
    # adpilot's operations to the fake's RPC names.
    METHODS = {
        "read": "SearchStream",
        "budget": "MutateCampaignBudgets",
        "status": "MutateCampaigns",
        "bid": "MutateAdGroups",
    }

    def __init__(self, fake: FakeGoogleAds, account: UUID) -> None:
        self.fake = fake
        self.account = account
        self.sleeps: list[float] = []
        self.records: list[Any] = []
        self._next_id = itertools.count(1001)

    @classmethod
    async def started(cls, **fake_options: Any) -> GoogleAdsPlatform:
        fake = FakeGoogleAds(**fake_options)
        await fake.start()
        return cls(fake, UUID("00000000-0000-0000-0000-00000000a0a0"))

    async def stop(self) -> None:
        await self.fake.stop()

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

    async def _record(self, call: Any) -> None:
        self.records.append(call)

    def connector(self, **options: Any) -> Any:
        from shared.connectors.google_ads import GoogleAdsConnector, GoogleAdsCredentials

        settings: dict[str, Any] = {
            "time_zone": self.fake.time_zone,
            "currency": self.fake.currency,
            "account": self.account,
            "endpoint": self.fake.endpoint,
            "token_uri": self.fake.token_uri,
            "recorder": self._record,
            "sleep": self._sleep,
            "timeout_seconds": 5.0,
        }
        credentials = options.pop(
            "credentials",
            GoogleAdsCredentials(
                developer_token=DEVELOPER_TOKEN,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                refresh_token=REFRESH_TOKEN,
                login_customer_id="1112223333",
            ),
        )
        settings.update(options)
        customer_id = settings.pop("customer_id", self.fake.customer_id)
        return GoogleAdsConnector(credentials, customer_id, **settings)

    def campaign_uuid(self, google_id: int) -> UUID:
        from shared.connectors.google_ads import campaign_uuid

        return campaign_uuid(self.fake.customer_id, google_id)

    def google_id(self, campaign_id: UUID) -> int:
        for google_id in self.fake.campaigns:
            if self.campaign_uuid(google_id) == campaign_id:
                return google_id
        raise KeyError(campaign_id)

    def add_campaign(
        self,
        name: str,
        *,
        daily_budget: float,
        status: str = "active",
        bids: tuple[float, ...] = (1.0,),
        shared_budget: bool = False,
        bidding: str = "MANUAL_CPC",
    ) -> UUID:
        google_id = next(self._next_id)
        self.fake.add_campaign(
            google_id,
            name,
            budget_micros=round(daily_budget * 1_000_000),
            status="ENABLED" if status == "active" else "PAUSED",
            bids=tuple(round(b * 1_000_000) for b in bids),
            shared_budget=shared_budget,
            bidding=bidding,
        )
        return self.campaign_uuid(google_id)

    def add_local_hour(
        self, campaign_id: UUID, local_date: dt.date, hour: int, **figures: Any
    ) -> None:
        self.fake.add_hour(self.google_id(campaign_id), local_date, hour, **figures)

    def collapse(self, campaign_id: UUID, since: dt.datetime) -> None:
        """From ``since`` (aware) on, the campaign's hours report no conversions."""
        self.fake.collapse[self.google_id(campaign_id)] = since

    def settings(self, campaign_id: UUID) -> dict[str, Any]:
        campaign = self.fake.campaigns[self.google_id(campaign_id)]
        return {
            "daily_budget": self.fake.budgets[campaign.budget_id].amount_micros / 1_000_000,
            "status": "active" if campaign.status == "ENABLED" else "paused",
            "bids": [
                g.cpc_bid_micros / 1_000_000
                for g in sorted(self.fake.ad_groups.values(), key=lambda g: g.id)
                if g.campaign_id == campaign.id
            ],
        }

    def edit(self, campaign_id: UUID, *, daily_budget: float) -> None:
        """A change made outside adpilot (in the Google Ads interface)."""
        campaign = self.fake.campaigns[self.google_id(campaign_id)]
        self.fake.budgets[campaign.budget_id].amount_micros = round(daily_budget * 1_000_000)

    def written(self, kind: str) -> list[Any]:
        """The values the platform committed for ``kind``, in order, in adpilot's terms."""
        values = [m[3] for m in self.fake.mutations(self.METHODS[kind])]
        if kind == "status":
            return ["active" if v == "ENABLED" else "paused" for v in values]
        return [v / 1_000_000 for v in values]

    def tokens_issued(self) -> int:
        return self.fake.tokens_issued

    def writes(self, kind: str | None = None) -> int:
        return len(self.fake.mutations(self.METHODS[kind] if kind else None))

    def calls(self, kind: str | None = None) -> list[Call]:
        method = self.METHODS[kind] if kind else None
        return [c for c in self.fake.calls if method is None or c.method == method]

    def request_ids(self) -> list[str]:
        return [c.request_id for c in self.fake.calls]

    def inject(self, fault: str, *, on: str | None = None, retry_delay: float = 0.0) -> None:
        self.fake.inject(
            self.FAULTS[fault],
            method=self.METHODS[on] if on else None,
            retry_delay=retry_delay,
        )

    def set_min_budget(self, amount: float) -> None:
        self.fake.min_budget_micros = round(amount * 1_000_000)

    def expire_tokens(self) -> None:
        self.fake.expire_tokens()
