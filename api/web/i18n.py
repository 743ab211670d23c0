"""Every string the web page shows, in Chinese (the default) and English: one table, nothing scattered."""

from __future__ import annotations

from collections.abc import Callable

from store.models import AlertAction, AlertKind, AlertStatus, Outcome, Severity

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

TEXTS: dict[str, dict[str, str]] = {
    "app.name": {"zh": "安心", "en": "Anxin"},
    "app.tagline": {"zh": "独居老人用水关怀", "en": "Water-meter care for people living alone"},
    "lang.other": {"zh": "English", "en": "中文"},
    "nav.alerts": {"zh": "我的提醒", "en": "My alerts"},
    "nav.logout": {"zh": "退出", "en": "Sign out"},
    "nav.signed_in_as": {"zh": "当前用户：{name}", "en": "Signed in as {name}"},
    # sign-in
    "login.title": {"zh": "登录", "en": "Sign in"},
    "login.with_password": {"zh": "用户名和密码", "en": "Name and password"},
    "login.name": {"zh": "用户名", "en": "Name"},
    "login.password": {"zh": "密码", "en": "Password"},
    "login.with_token": {"zh": "或者使用令牌", "en": "Or with your token"},
    "login.token": {"zh": "令牌", "en": "Token"},
    "login.submit": {"zh": "登录", "en": "Sign in"},
    "login.failed": {"zh": "用户名或密码不对，请重试；忘记密码请联系社区书记。",
                     "en": "That name and password do not match; try again, or ask your secretary to reset it."},
    "login.bad_token": {"zh": "这个令牌无效（已更换或输入有误），请向管理员索取新令牌。",
                        "en": "That token is not known (replaced or mistyped); ask an administrator for a new one."},
    "login.empty": {"zh": "请填写用户名和密码，或者令牌。", "en": "Fill in your name and password, or your token."},
    "login.cross_site": {"zh": "请从安心的登录页登录。", "en": "Please sign in from anxin's own sign-in page."},
    # alert list
    "alerts.title": {"zh": "待处理的提醒", "en": "Open alerts"},
    "alerts.none": {"zh": "一切正常，没有待处理的提醒。", "en": "All quiet: no open alerts."},
    "alerts.more": {"zh": "另有 {n} 条未显示。", "en": "{n} more not shown."},
    "alerts.live": {"zh": "实时更新", "en": "Live"},
    "alerts.offline": {"zh": "连接中断，正在重连…", "en": "Connection lost, reconnecting…"},
    "alert.since": {"zh": "开始于 {when}（{hours} 小时前）", "en": "Since {when} ({hours} h ago)"},
    "alert.acked_by": {"zh": "{name} 于 {when} 确认", "en": "Acknowledged by {name} at {when}"},
    "alert.escalated": {"zh": "已上报（第 {level} 级）", "en": "Escalated (level {level})"},
    "alert.ack": {"zh": "已确认", "en": "Acknowledge"},
    "alert.resolve": {"zh": "处理完毕", "en": "Resolve"},
    "alert.outcome": {"zh": "处理结果", "en": "What you found"},
    "alert.note": {"zh": "备注（可选）", "en": "Note (optional)"},
    "alert.history": {"zh": "处理记录", "en": "History"},
    "alert.by_system": {"zh": "系统", "en": "anxin"},
    "alert.no_household": {"zh": "水表 {meter}（未关联住户）", "en": "Meter {meter} (no household)"},
    "alert.fleet": {"zh": "全部水表", "en": "The whole fleet"},
    "alert.read_only": {"zh": "此类提醒由其他人员处理。", "en": "Someone else acts on this kind of alert."},
    "alert.failed": {"zh": "操作失败：", "en": "That did not work: "},
    # household page
    "household.title": {"zh": "住户", "en": "Household"},
    "household.state": {"zh": "当前状态", "en": "Now"},
    "household.residents": {"zh": "住户联系人", "en": "Residents"},
    "household.no_residents": {"zh": "未登记住户。", "en": "No resident registered."},
    "household.alerts": {"zh": "提醒", "en": "Alerts"},
    "household.no_alerts": {"zh": "没有提醒。", "en": "No alerts."},
    "household.usage": {"zh": "最近一周用水（每小时升数）", "en": "Last week's use (litres per hour)"},
    "household.no_usage": {"zh": "最近一周没有读数。", "en": "No readings in the last week."},
    "household.meter": {"zh": "水表 {meter}", "en": "Meter {meter}"},
    "household.no_meter": {"zh": "未关联水表。", "en": "No meter linked."},
    "household.away_now": {"zh": "外出中，{until} 回来", "en": "Away, back {until}"},
    "household.not_found": {"zh": "找不到这户，或不是您负责的住户。", "en": "No such household, or not one of yours."},
    "household.usage_total": {"zh": "共 {litres} 升", "en": "{litres} L in all"},
    "away.title": {"zh": "外出登记", "en": "Away"},
    "away.none": {"zh": "没有外出登记。", "en": "Not registered as away."},
    "away.window": {"zh": "{start} 至 {end}", "en": "{start} to {end}"},
    "away.add": {"zh": "登记外出", "en": "Mark away"},
    "away.start": {"zh": "离开日期", "en": "Leaves on"},
    "away.end": {"zh": "回来日期", "en": "Back on"},
    "away.note": {"zh": "备注（例如：去女儿家）", "en": "Note (e.g. at her daughter's)"},
    "page.not_found": {"zh": "页面不存在。", "en": "No such page."},
    "page.back": {"zh": "返回", "en": "Back"},
    # states of a household (api.meters.service.MeterState)
    "state.ok": {"zh": "正常", "en": "OK"},
    "state.inactive": {"zh": "长时间未用水", "en": "No water used"},
    "state.flowing": {"zh": "持续流水", "en": "Water running"},
    "state.offline": {"zh": "水表离线", "en": "Meter offline"},
    # the store's vocabularies
    "kind.inactivity": {"zh": "长时间未用水", "en": "No water used"},
    "kind.meter_offline": {"zh": "水表离线", "en": "Meter offline"},
    "kind.continuous_flow": {"zh": "持续流水", "en": "Water running for hours"},
    "kind.unusual_pattern": {"zh": "作息异常", "en": "Unusual routine"},
    "kind.fleet_outage": {"zh": "大面积水表无数据", "en": "Many meters silent"},
    "severity.alarm": {"zh": "紧急", "en": "Alarm"},
    "severity.warning": {"zh": "注意", "en": "Warning"},
    "severity.info": {"zh": "提示", "en": "Info"},
    "status.open": {"zh": "待处理", "en": "Open"},
    "status.acknowledged": {"zh": "已确认", "en": "Acknowledged"},
    "status.resolved": {"zh": "已解决", "en": "Resolved"},
    "outcome.resident_fine": {"zh": "老人安好", "en": "Resident fine"},
    "outcome.resident_away": {"zh": "老人外出", "en": "Resident away"},
    "outcome.needed_help": {"zh": "需要帮助", "en": "Needed help"},
    "outcome.emergency_called": {"zh": "已呼叫急救", "en": "Emergency services called"},
    "outcome.meter_fault": {"zh": "水表故障", "en": "Meter fault"},
    "outcome.false_alarm": {"zh": "误报", "en": "False alarm"},
    "action.raised": {"zh": "发出提醒", "en": "Raised"},
    "action.severity_raised": {"zh": "级别升高", "en": "Grew more severe"},
    "action.reopened": {"zh": "重新打开", "en": "Reopened"},
    "action.acknowledged": {"zh": "已确认", "en": "Acknowledged"},
    "action.resolved": {"zh": "已解决", "en": "Resolved"},
    "action.auto_resolved": {"zh": "自动解除", "en": "Resolved by itself"},
    "action.noted": {"zh": "备注", "en": "Note"},
    "action.escalated": {"zh": "已上报", "en": "Escalated"},
    "action.reminded": {"zh": "已提醒", "en": "Reminder sent"},
}

# The vocabularies whose every value the page must be able to name.
VOCABULARIES = {"kind": AlertKind, "severity": Severity, "status": AlertStatus, "outcome": Outcome,
                "action": AlertAction}


def pick_lang(asked: str | None, remembered: str | None) -> str:
    """The page's language: the one asked for in ``?lang=``, else the cookie's, else Chinese."""
    for lang in (asked, remembered):
        if lang in LANGS:
            return lang
    return DEFAULT_LANG


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the text of ``key`` in ``lang`` with ``values`` filled in.

    >>> translator("en")("alert.since", when="13:00", hours=3)
    'Since 13:00 (3 h ago)'
    """

    def t(key: str, **values: object) -> str:
        text = TEXTS[key][lang]
        return text.format(**values) if values else text

    return t
