"""The link to an MQTT broker: one paho client set up from the line config's MQTT settings (login, TLS),
with refusals (CONNACK codes, certificate checks) turned into messages that say what to fix. Shared by the
adapter backend (:mod:`data_adapters.mqtt`) and the line publisher (:mod:`data_adapters.mqtt_publisher`).
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
from typing import Callable
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from workbench.config import MqttAdapter

from data_adapters.base import BackendError

log = logging.getLogger("data_adapters.mqtt")

# --- security: login, TLS, refusals -----------------------------------------------------------------
class MqttSettingsError(ValueError):
    """MQTT settings that cannot work on this machine: a TLS file missing or unreadable, a password unset."""


class MqttRefused(BackendError):
    """The broker refused this client (login or TLS certificate checks); retrying unchanged will not help."""


# CONNACK reason codes as paho reports them (MQTT 5 numbering; the 3.1.1 return codes 1-5 map to 132-136).
_CONNACK = {
    132: "unsupported protocol version (the broker does not speak MQTT 3.1.1)",
    133: "client identifier rejected (change client_id)",
    134: "bad username or password",
    135: "not authorised (wrong username or password, or this user may not connect)",
    136: "server unavailable",
    138: "this client is banned",
    140: "bad authentication method",
}


def connack_refusal(where: str, username: str | None, reason_code) -> str:
    """The message for a refused CONNACK, naming the broker, the user and what to fix.

    >>> from paho.mqtt.reasoncodes import ReasonCode
    >>> from paho.mqtt.packettypes import PacketTypes
    >>> connack_refusal("mqtts://10.0.0.5:8883", "engineer", ReasonCode(PacketTypes.CONNACK, identifier=134))
    "mqtts://10.0.0.5:8883 refused user 'engineer': bad username or password (CONNACK 134)"
    """
    code = int(getattr(reason_code, "value", reason_code))
    what = _CONNACK.get(code, str(reason_code))
    if username:
        return f"{where} refused user {username!r}: {what} (CONNACK {code})"
    if code in (134, 135):
        return (f"{where} refused an anonymous login: {what} (CONNACK {code}); the broker wants a login: "
                "set username and password_env in the adapter settings")
    return f"{where} refused the connection: {what} (CONNACK {code})"


def tls_refusal(where: str, settings: MqttAdapter, exc: BaseException) -> str | None:
    """The message for a failed TLS handshake, or None for a transient network error (retry as usual)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or str(exc)
        if "mismatch" in why.lower():
            hint = (f"the broker's certificate does not list {settings.host!r}: connect by a name or address it "
                    "lists (tls_insecure: true skips this check; the CA chain is still verified)")
        elif settings.ca_file:
            hint = f"the broker's certificate is not signed by the CA in ca_file {settings.ca_file}"
        else:
            hint = "set ca_file to the PEM of the CA that signed the broker's certificate (a site CA is not a system CA)"
        return f"{where}: TLS certificate verify failed: {why}; {hint}"
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)):
        return None  # the link dropped mid-handshake (broker restarting): not a verdict on us
    if isinstance(exc, ssl.SSLError):
        hint = ("the broker wants a client certificate: set certfile/keyfile" if "CERTIFICATE_REQUIRED" in str(exc)
                else "is this a TLS listener? does it want a client certificate (certfile/keyfile)?")
        return f"{where}: TLS handshake failed: {exc.reason or exc}; {hint}"
    return None


def _readable_file(key: str, path: str, where: str) -> str:
    p = Path(path).expanduser()
    if not p.is_file():
        raise MqttSettingsError(f"{where}: {key} {p} does not exist or is not a file; fix the path in the adapter settings")
    try:
        with p.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise MqttSettingsError(f"{where}: {key} {p} cannot be read ({exc.strerror}); "
                                "give this user read access to it") from None
    return str(p)


def tls_context(settings: MqttAdapter, where: str) -> ssl.SSLContext | None:
    """The TLS context for ``settings`` (None without ``tls``): CA chain and host name verified, TLS >= 1.2.

    Raises :class:`MqttSettingsError` naming the key and the path of a missing or unusable file.

    >>> tls_context(MqttAdapter(kind="mqtt"), "mqtt://127.0.0.1:1883") is None
    True
    >>> tls_context(MqttAdapter(kind="mqtt", tls=True), "mqtts://broker:8883").check_hostname
    True
    """
    if not settings.tls:
        return None
    ca = _readable_file("ca_file", settings.ca_file, where) if settings.ca_file else None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)  # with a cafile, only that CA
    except ssl.SSLError as exc:
        raise MqttSettingsError(f"{where}: ca_file {ca} holds no usable PEM CA certificate ({exc.reason or exc})") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.certfile:
        cert = _readable_file("certfile", settings.certfile, where)
        key = _readable_file("keyfile", settings.keyfile, where) if settings.keyfile else None
        try:
            ctx.load_cert_chain(cert, key, password=lambda: b"")  # never prompt on a terminal for a passphrase
        except ssl.SSLError as exc:
            raise MqttSettingsError(f"{where}: certfile {cert} / keyfile {key or '(in certfile)'} are not a usable "
                                    f"PEM certificate and matching unencrypted key ({exc.reason or exc})") from None
    if settings.tls_insecure:
        ctx.check_hostname = False
        log.warning("%s: tls_insecure is set: the broker's host name is not checked (the CA chain still is)", where)
    return ctx


def broker_password(settings: MqttAdapter, where: str, password: str | None = None) -> str | None:
    """``password`` if given, else the value of env ``settings.password_env`` (error if that is unset).

    >>> broker_password(MqttAdapter(kind="mqtt", username="u"), "mqtt://h:1883", "pw")
    'pw'
    """
    if password is not None or not settings.password_env:
        return password
    value = os.environ.get(settings.password_env)
    if value is None:
        raise MqttSettingsError(f"{where}: environment variable {settings.password_env} (password_env) is not set; "
                                f"export it with the password of user {settings.username!r}")
    return value


def broker_address(settings: MqttAdapter) -> str:
    """``mqtt://host:port``, or ``mqtts://`` with TLS (for messages and logs)."""
    return f"mqtt{'s' if settings.tls else ''}://{settings.host}:{settings.port}"


class _PahoLog:
    """paho's logger: forwards to ours, and keeps a TLS error paho met on the socket. With TLS 1.3 a broker
    refuses a client certificate (or its absence) by an alert after the handshake; paho only logs that."""

    def __init__(self, link: "BrokerLink"):
        self.link = link

    def log(self, level: int, fmt: str, *args) -> None:
        if level >= logging.ERROR and args and isinstance(args[0], OSError):
            self.link.last_error = args[0]
            if isinstance(args[0], ssl.SSLError):
                self.link._tls_error = args[0]
        if log.isEnabledFor(logging.DEBUG):  # our own messages say what matters; paho's are detail
            log.debug("paho: " + fmt, *args)


class BrokerLink:
    """One paho client set up from :class:`MqttAdapter` settings (login, TLS), shared by the adapter backend
    and the line publisher.

    paho reconnects by itself (every ``reconnect_s`` .. 1 s, so a restarted broker is back within seconds).
    A refusal (CONNACK refused, certificate not verified) switches to exponential back-off between
    ``refused_backoff_s`` (2 s doubling to 60 s by default): the broker is not hammered, and a fixed password
    file or certificate is picked up without a restart. The owner calls :meth:`accepted` first in its
    ``on_connect`` and :meth:`lost` in its ``on_disconnect``, and may set ``on_refused(message)`` (called in
    paho's thread).

    >>> link = BrokerLink(MqttAdapter(kind="mqtt", port=1883), client_id="doc")
    >>> link.where, link.refusal
    ('mqtt://127.0.0.1:1883', None)
    """

    def __init__(self, settings: MqttAdapter, *, client_id: str, clean_session: bool = True,
                 password: str | None = None, reconnect_s: float = 0.25,
                 refused_backoff_s: tuple[float, float] = (2.0, 60.0)):
        self.settings = settings
        self.where = broker_address(settings)
        ctx = tls_context(settings, self.where)
        password = broker_password(settings, self.where, password)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session,
                                  protocol=paho.MQTTv311)
        if settings.username:
            self.client.username_pw_set(settings.username, password)
        if ctx is not None:
            self.client.tls_set_context(ctx)
            self.client.tls_insecure_set(settings.tls_insecure)
        self._normal_delay = (reconnect_s, max(1.0, reconnect_s))
        self._refused_delay = refused_backoff_s
        self.client.reconnect_delay_set(*self._normal_delay)
        self.client.on_connect_fail = self._on_connect_fail
        self.client.enable_logger(_PahoLog(self))
        self._tls_error: ssl.SSLError | None = None
        self.last_error: BaseException | None = None  # the last network error, for "not reachable" messages
        self.refusal: str | None = None
        self.refusals = 0
        self.on_refused: Callable[[str], None] | None = None

    def accepted(self, reason_code) -> bool:
        """True if the CONNACK accepted us (normal reconnect delays again); else record the refusal."""
        self._tls_error = None
        if not reason_code.is_failure:
            if self.refusal is not None:
                self.client.reconnect_delay_set(*self._normal_delay)
                self.refusal = None
            return True
        self._refused(connack_refusal(self.where, self.settings.username, reason_code))
        return False

    def unreachable_hint(self) -> str:
        """`` (last error: ...)`` for a broker that did not answer, with a hint when it reset the connection."""
        exc = self.last_error
        if exc is None:
            return ""
        hint = ""
        if isinstance(exc, (ConnectionResetError, ssl.SSLEOFError)):  # a TLS hello to a plain listener, or the reverse
            hint = ("; does tls match the listener? TLS brokers usually listen on 8883, plain ones on 1883"
                    if self.settings.tls else "; is this a TLS listener (then set tls: true and ca_file)?")
        return f" (last error: {type(exc).__name__}: {exc}{hint})"

    def lost(self) -> None:
        """Call in ``on_disconnect``: a TLS alert that ended the link before a CONNACK is a refusal."""
        exc, self._tls_error = self._tls_error, None
        why = tls_refusal(self.where, self.settings, exc) if exc is not None else None
        if why is not None:
            self._refused(why)

    def _on_connect_fail(self, client, userdata) -> None:
        exc = sys.exc_info()[1]  # paho calls this inside its `except OSError` around the (TLS) connect
        self.last_error = exc
        why = tls_refusal(self.where, self.settings, exc) if exc is not None else None
        if why is None:
            log.debug("%s: connect failed (%r); retrying", self.where, exc)
            return
        self._refused(why)

    def _refused(self, why: str) -> None:
        self.refusals += 1
        if self.refusal is None:  # the first refusal in a row starts the back-off at its minimum
            self.client.reconnect_delay_set(*self._refused_delay)
            log.error("%s; retrying after %g s, backing off to %g s", why, *self._refused_delay)
        self.refusal = why
        if self.on_refused is not None:
            self.on_refused(why)
