//! Sample newsroom: a few fictional news outlets served on loopback, so that
//! kawaraban can be demonstrated and exercised without touching the internet.
//!
//! ```text
//! cargo run --example newsroom -- [--listen 127.0.0.1:8900]
//! cargo run --release -- serve --config config/offline.toml
//! ```
//!
//! Each outlet publishes in a different format and character encoding, the
//! way Japanese news sites do in the wild: RSS 1.0 in `Shift_JIS` (with
//! CP932-only characters and no charset in the Content-Type), RSS 2.0 in
//! EUC-JP, Atom with `xml:base` and relative links, JSON Feed, and RSS 2.0
//! with only the first words of each article. One more feed is truncated so
//! that the daemon has a failing source to report. Every article also has an
//! HTML page, in its outlet's encoding, for full-text extraction.
//!
//! The security stories are mixed with sports, weather, tourism and local
//! news that the blog should leave out, and the hospital ransomware story is
//! run by two outlets in their own words (same figures, another lead, reworded
//! and trimmed paragraphs), so the blog has a story to show once.
//! `tests/offline_blog.rs` checks the published blog against these articles.
//!
//! Every response carries an `ETag` and `Last-Modified` and honours conditional
//! requests, and is gzip-compressed when the client asks for it, so repeated
//! polls show up as 304s in the request log.
//!
//! All outlets, people, companies, places and events are invented.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::error::Error;
use std::future::ready;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, FixedOffset, Local, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use tokio::net::TcpListener;

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

const DEFAULT_LISTEN: &str = "127.0.0.1:8900";

/// The port `config/offline.toml` points its sources at.
pub(crate) const CONFIG_PORT: u16 = 8900;

const USAGE: &str = "\
usage: cargo run --example newsroom -- [--listen ADDR]

Serves fictional news feeds on loopback for the kawaraban offline demo.

options:
  --listen ADDR   address to listen on (default 127.0.0.1:8900)
  -h, --help      print this help";

// ---------------------------------------------------------------------------
// Sample data
// ---------------------------------------------------------------------------

// The items tests/offline_blog.rs reads are pub(crate): it includes this file as a
// module to serve the newsroom and to take its expectations from the sample data.

pub(crate) struct Outlet {
    pub(crate) name: &'static str,
    /// URL path prefix; the feed file and article paths are relative to it.
    pub(crate) root: &'static str,
    feed_file: &'static str,
    pub(crate) format: FeedFormat,
    charset: Charset,
    lang: &'static str,
    tagline: &'static str,
    nav: &'static [&'static str],
    related_label: &'static str,
    updated_label: &'static str,
    /// chrono format string for human-readable dates on the HTML pages.
    date_format: &'static str,
    footer: &'static str,
    pub(crate) articles: &'static [Article],
}

pub(crate) struct Article {
    /// Relative to the outlet's root.
    pub(crate) path: &'static str,
    pub(crate) title: &'static str,
    /// RFC 3339.
    pub(crate) published: &'static str,
    /// RFC 3339; set when the story was revised after publication.
    updated: Option<&'static str>,
    author: &'static str,
    category: &'static str,
    summary: &'static str,
    pub(crate) body: &'static [&'static str],
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum FeedFormat {
    Rss1,
    Rss2,
    /// RSS 2.0 whose items carry only the first words of the article, so that a
    /// reader has to fetch the article pages for the text.
    Rss2Excerpts,
    Atom,
    JsonFeed,
}

#[derive(Clone, Copy)]
enum Charset {
    Utf8,
    ShiftJis,
    EucJp,
}

pub(crate) static OUTLETS: &[Outlet] = &[
    Outlet {
        name: "瓦版新聞",
        root: "/kawaraban-shimbun/",
        feed_file: "index.rdf",
        format: FeedFormat::Rss1,
        charset: Charset::ShiftJis,
        lang: "ja",
        tagline: "瓦版新聞の最新ニュース",
        nav: &[
            "トップ",
            "社会",
            "経済",
            "国際",
            "IT・科学",
            "スポーツ",
            "天気",
        ],
        related_label: "関連記事",
        updated_label: "更新",
        date_format: "%Y年%-m月%-d日 %H:%M",
        footer: "Copyright (C) 2026 瓦版新聞社　このサイトは kawaraban のデモ用に作られた架空の新聞社です。記事の内容はすべて創作であり、実在の人物・団体とは関係ありません。",
        articles: KAWARABAN_ARTICLES,
    },
    Outlet {
        name: "東都通信",
        root: "/toto-tsushin/",
        feed_file: "rss.xml",
        format: FeedFormat::Rss2,
        charset: Charset::EucJp,
        lang: "ja",
        tagline: "東都通信が配信する国内ニュース",
        nav: &[
            "ホーム",
            "政治",
            "経済",
            "社会",
            "IT・セキュリティ",
            "スポーツ",
        ],
        related_label: "最新ニュース",
        updated_label: "更新",
        date_format: "%Y年%-m月%-d日 %H時%M分",
        footer: "Copyright (C) 2026 東都通信社　掲載記事はデモ用の架空のニュースです。実在の人物・団体とは関係ありません。",
        articles: TOTO_ARTICLES,
    },
    Outlet {
        name: "北海民報",
        root: "/hokkai/",
        feed_file: "atom.xml",
        format: FeedFormat::Atom,
        charset: Charset::Utf8,
        lang: "ja",
        tagline: "北海民報 ― 道内のニュース",
        nav: &["ニュース", "道内", "経済", "くらし", "スポーツ"],
        related_label: "こちらの記事も",
        updated_label: "最終更新",
        date_format: "%Y年%-m月%-d日 %H:%M",
        footer: "(C) 北海民報社 2026　デモ用の架空の新聞です。記事中の人物・団体・地名はすべて架空のものです。",
        articles: HOKKAI_ARTICLES,
    },
    Outlet {
        name: "Harbor Daily",
        root: "/harbor/",
        feed_file: "feed.json",
        format: FeedFormat::JsonFeed,
        charset: Charset::Utf8,
        lang: "en",
        tagline: "English-language news from Japan's harbor cities",
        nav: &["Home", "Japan", "Business", "Tech", "Life", "Sports"],
        related_label: "More stories",
        updated_label: "Updated",
        date_format: "%B %-d, %Y, %H:%M JST",
        footer: "© 2026 Harbor Daily. A fictional newspaper made up for the kawaraban demo; all people, companies and events are invented.",
        articles: HARBOR_ARTICLES,
    },
    Outlet {
        name: "山手新報",
        root: "/yamate/",
        feed_file: "rss20.xml",
        format: FeedFormat::Rss2Excerpts,
        charset: Charset::Utf8,
        lang: "ja",
        tagline: "山手新報 ― 山手市と湾岸地域のニュース",
        nav: &["トップ", "地域", "経済", "社会", "くらし"],
        related_label: "あわせて読みたい",
        updated_label: "更新",
        date_format: "%Y.%m.%d %H:%M",
        footer: "© 山手新報社 2026　kawaraban のデモ用の架空の新聞です。登場する人物・団体・地名はすべて架空のものです。",
        articles: YAMATE_ARTICLES,
    },
];

static KAWARABAN_ARTICLES: &[Article] = &[
    Article {
        path: "articles/20260309-phishing-sms.html",
        title: "宅配業者かたる偽SMSが急増　再配達手数料を口実にカード情報盗む",
        published: "2026-03-09T18:30:00+09:00",
        updated: None,
        author: "社会部　髙橋 美咲",
        category: "社会",
        summary: "宅配業者の不在通知を装って偽サイトへ誘導するSMSが3月に入って急増している。青葉台署によると、8日までの相談は47件に上り、カード情報を入力して不正に決済される被害も出ている。",
        body: &[
            "宅配業者の不在通知を装い、偽のウェブサイトへ誘導するSMS（ショートメッセージサービス）が3月に入って急増している。青葉台署によると、今月1日から8日までに管内で寄せられた相談は47件と、2月の1か月分をすでに上回った。クレジットカード情報を入力し、身に覚えのない請求を受けた被害も少なくとも6件確認されている。",
            "届くメッセージは「お荷物をお届けにあがりましたが、不在のため持ち帰りました」などと書かれ、短縮URLが添えられている。リンク先は実在する宅配業者のサイトとそっくりに作られており、再配達の手数料として数百円を支払うよう求めたうえで、カード番号や有効期限、セキュリティコードを入力させる。",
            "同署が確認した偽サイトは、①再配達日時の選択画面、②手数料の支払い画面、③「認証コード」の入力画面の3段階で構成されていた。③ではカード会社から届いたワンタイムパスワードまで入力させ、その場で不正な決済に使う手口とみられる。",
            "被害にあった市内の70代女性は「ちょうど通販で買い物をしていたので、本物だと思い込んでしまった」と話す。女性のカードでは、入力から約10分後に海外の通販サイトで計18万円分の決済が行われていた。",
            "宅配各社は「SMSで手数料の支払いを求めることはない」としている。同署の髙田 誠副署長は「不審なメッセージのリンクは開かず、荷物の状況は公式アプリや伝票番号で確かめてほしい」と呼びかけている。",
        ],
    },
    Article {
        path: "articles/20260312-hospital-ransomware.html",
        title: "青葉台市立病院にランサムウェア攻撃　電子カルテ停止、救急受け入れ制限",
        published: "2026-03-12T11:40:00+09:00",
        updated: None,
        author: "科学技術部　中村 健",
        category: "IT・科学",
        summary: "青葉台市立総合病院は12日、サイバー攻撃を受けて電子カルテシステムが使えなくなったと発表した。身代金要求型ウイルス「ランサムウェア」による被害とみられ、①救急患者の受け入れ制限、②新規外来の受け付け停止などの対応を取っている。",
        body: &[
            "青葉台市立総合病院（病床数420床）は12日、院内のサーバーがサイバー攻撃を受け、電子カルテシステムが使用できなくなったと発表した。データを暗号化し、復旧と引き換えに金銭を要求する「ランサムウェア」による被害とみられる。",
            "病院によると、11日午後11時ごろ、夜間当直の職員が電子カルテの画面が表示されないことに気付いた。院内のプリンターからは英語で書かれた脅迫文が次々に印刷され、「データを盗んだ。期限内に連絡しなければ公開する」などと記されていたという。",
            "病院は当面の対応として、①救急患者の受け入れ制限、②新規外来患者の受け付け停止、③予定手術の一部延期を決めた。入院患者の診療は紙のカルテで続けているが、過去の検査結果や処方歴を参照できず、現場は確認作業に追われている。",
            "病院は県警に被害を届け出るとともに、電子カルテを納入した㈱アオバメディカルシステムズや外部の専門業者と調査を進めている。侵入経路は分かっていないが、保守用に設置していたVPN（仮想私設網）機器が狙われた可能性があるという。患者の情報が外部に流出したかどうかも調べている。",
            "記者会見した院長は「患者の皆さまに多大なご迷惑をおかけし、深くおわびする。身代金の要求には応じない」と述べた。システムの全面復旧には少なくとも2週間かかる見通しだ。",
        ],
    },
    Article {
        path: "articles/20260313-spring-storm.html",
        title: "週末は「春の嵐」　西日本から東日本で暴風や高波に警戒",
        published: "2026-03-13T17:05:00+09:00",
        updated: None,
        author: "気象担当　小野寺 葵",
        category: "天気",
        summary: "急速に発達する低気圧の影響で、14日夜から15日にかけて西日本から東日本の広い範囲で風が非常に強まる見込み。沿岸部では高波にも警戒が必要だ。青葉台市の「春の花市」は、主催する㈱あおば企画が中止を決めた。",
        body: &[
            "日本海を進む低気圧が急速に発達する影響で、14日夜から15日にかけて、西日本から東日本の広い範囲で南寄りの風が非常に強まる見込みだ。沿岸部を中心に最大瞬間風速30メートルを超える暴風が吹くおそれがあり、気象台は高波や土砂災害にも警戒するよう呼びかけている。",
            "低気圧に向かって暖かく湿った空気が流れ込むため、太平洋側でも局地的に雷を伴った激しい雨が降る見通し。15日午後からは冬型の気圧配置に変わり、北日本の日本海側では再び雪となるところがある。",
            "行楽シーズンを前に、屋外のイベントでは中止や延期が相次いでいる。青葉台市の中央公園で予定されていた「春の花市」も、主催する㈱あおば企画が14日、15日の2日間とも中止を決めた。沿岸を走る鉄道の一部路線では、15日の計画運休が検討されている。",
            "気温の変化も大きい。14日は全国的に4月並みの暖かさとなる一方、15日は最高気温が前日より10度以上低くなるところもある。体調管理に注意が必要だ。",
        ],
    },
];

static TOTO_ARTICLES: &[Article] = &[
    Article {
        path: "news/2026/03/08/city-marathon.html",
        title: "東都シティマラソン、過去最多の1万2千人が完走　男子は初出場の大学生が優勝",
        published: "2026-03-08T16:45:00+09:00",
        updated: None,
        author: "東都通信 運動部",
        category: "スポーツ",
        summary: "東都シティマラソンが8日、東都市内で開かれ、完走者は大会史上最多の1万2084人となった。男子は初出場の大学3年生、森田陸選手が制した。",
        body: &[
            "東都シティマラソンが8日、東都市内で開かれ、国内外から集まった約1万3千人のランナーが春の日差しの中を駆け抜けた。完走者は1万2084人で、大会史上最多となった。",
            "男子は初出場の大学3年、森田陸選手（21）が2時間14分52秒で優勝した。30キロ過ぎに先頭集団から抜け出すと、そのまま後続を引き離した。森田選手は「沿道の声援が途切れず、最後まで足が止まらなかった」と笑顔を見せた。",
            "女子は前回2位の会社員、山口千夏選手（29）が2時間33分10秒で初優勝を果たした。",
            "大会は今回から、完走証をスマートフォンで受け取れる仕組みを導入した。ゴール地点の混雑が和らいだといい、主催者は「来年は参加枠をさらに広げたい」としている。",
        ],
    },
    Article {
        path: "news/2026/03/11/komorebido-card-leak.html",
        title: "通販サイト「こもれび堂」、カード情報最大2万8千件流出の恐れ　決済画面を改ざん",
        published: "2026-03-11T15:20:00+09:00",
        updated: None,
        author: "東都通信 経済部",
        category: "IT・セキュリティ",
        summary: "生活雑貨の通販サイトを運営するこもれび堂（東都市）は11日、不正アクセスを受け、利用者のクレジットカード情報が最大2万8312件流出した恐れがあると発表した。",
        body: &[
            "生活雑貨の通販サイト「こもれび堂」を運営するこもれび堂（東都市中央区）は11日、第三者による不正アクセスを受け、サイトで買い物をした顧客のクレジットカード情報が最大2万8312件流出した恐れがあると発表した。カード番号のほか、有効期限やセキュリティコード、名義人の氏名が含まれる可能性がある。",
            "同社によると、攻撃者はサイトの管理画面に不正にログインし、決済画面のプログラムを書き換えていた。顧客が入力したカード情報は、正規の決済代行会社に送られると同時に外部のサーバーにも送信される仕組みになっていたという。対象は2025年9月2日から2026年1月27日までにカードで決済した利用者。",
            "1月下旬、カード会社から「不正利用されたカードの共通の利用先になっている」との連絡を受けて発覚した。同社はカード決済を停止したうえで外部の調査機関に依頼し、約1か月半かけて被害の範囲を特定した。発表までに時間がかかった理由について、同社は「正確な件数を確定させるためだった」と説明している。",
            "管理画面のログインには、初期設定に近い推測されやすいパスワードが使われていたことも分かった。同社は対象の顧客にメールで個別に連絡し、カードの利用明細に身に覚えのない請求がないか確認するよう求めている。",
            "決済画面を改ざんしてカード情報を盗み取る手口は「ウェブスキミング」と呼ばれ、中小規模の通販サイトで被害が後を絶たない。情報セキュリティに詳しい東都工科大学の村井亮教授は「カード情報を自社で保存していなくても、画面を改ざんされれば防げない。管理画面への多要素認証の導入や、ファイル改ざんの監視が欠かせない」と指摘する。",
        ],
    },
    Article {
        path: "news/2026/03/12/aobadai-hospital-cyberattack.html",
        title: "市立病院のシステム停止、ランサムウェア被害か　診療に影響広がる",
        published: "2026-03-12T14:05:00+09:00",
        updated: None,
        author: "東都通信 社会部",
        category: "社会",
        summary: "青葉台市立総合病院の電子カルテシステムが11日夜から使えなくなっている。病院はランサムウェアによるサイバー攻撃とみており、救急の受け入れ制限や新規外来の停止に踏み切った。",
        // The same story as 瓦版新聞's, as a wire desk rewrites it: another lead,
        // reworded and trimmed paragraphs, the same figures.
        body: &[
            "青葉台市の青葉台市立総合病院（420床）が身代金要求型のコンピューターウイルス「ランサムウェア」によるサイバー攻撃を受け、11日夜から電子カルテシステムが使えなくなっている。病院が12日、記者会見を開いて明らかにした。",
            "病院によると、11日午後11時ごろ、夜間当直の職員が電子カルテの画面が表示されないことに気付いた。院内のプリンターからは英語で書かれた脅迫文が次々に印刷され、「データを盗んだ。期限内に連絡しなければ公開する」などと記されていたという。",
            "病院は当面、救急患者の受け入れ制限、新規外来患者の受け付け停止、予定手術の一部延期を決めた。入院患者の診療は紙のカルテで続けているが、過去の検査結果や処方歴を参照できず、現場は確認作業に追われている。",
            "侵入経路は分かっていないが、保守用に設置していたVPN（仮想私設網）機器が狙われた可能性があるという。病院は県警に被害を届け出ており、患者の情報が外部に流出したかどうかも調べている。",
            "院長は「患者の皆さまに多大なご迷惑をおかけし、深くおわびする。身代金の要求には応じない」と述べた。システムの全面復旧には少なくとも2週間かかる見通し。",
        ],
    },
];

static HOKKAI_ARTICLES: &[Article] = &[
    Article {
        path: "news/2026/0310-kitamisawa-city-breach.html",
        title: "北見沢市役所に不正アクセス　職員IDを悪用、住民約3100人分の情報閲覧か",
        published: "2026-03-10T19:00:00+09:00",
        updated: Some("2026-03-11T10:30:00+09:00"),
        author: "報道部　佐々木 遥",
        category: "行政",
        summary: "北見沢市は10日、市役所の業務システムに外部から不正アクセスがあり、住民約3100人分の氏名や住所などが閲覧された可能性があると発表した。職員のIDとパスワードが悪用されたとみられる。",
        body: &[
            "北見沢市は10日、市役所の業務用ネットワークに外部から不正アクセスがあり、住民約3100人分の氏名や住所、生年月日などが閲覧された可能性があると発表した。現時点で情報の悪用は確認されていないという。",
            "市によると、2月下旬から3月上旬にかけて、税務課の男性職員のIDとパスワードを使ったログインが深夜から未明に計14回あった。職員は在宅勤務のために業務システムへ接続する権限を持っていたが、該当する時間帯に接続した覚えはないと話している。",
            "市は、職員が私的に利用していたウェブサービスから流出したパスワードが、業務用にも使い回されていた可能性があるとみている。在宅勤務用の接続はIDとパスワードだけで認証する設定になっており、二段階認証は導入されていなかった。",
            "9日、システムの保守業者が通常と異なる時間帯のアクセス記録に気付き、市に報告して発覚した。市は同日中に在宅勤務用の接続を停止し、全職員のパスワードを変更した。",
            "市は対象の住民に文書で連絡するとともに、専用の問い合わせ窓口を設けた。市長は「市民の大切な情報を守るべき立場として誠に申し訳ない。認証の仕組みを早急に見直す」とのコメントを出した。",
            "【11日追記】市は11日、閲覧された可能性のある情報に、一部の住民の課税額が含まれていたことを明らかにした。",
        ],
    },
    Article {
        path: "news/2026/0312-security-help-desk.html",
        title: "北見沢商工会議所、中小企業向けにセキュリティ相談窓口　専門家が無料で助言",
        published: "2026-03-12T16:30:00+09:00",
        updated: None,
        author: "経済部　西田 翔",
        category: "経済",
        summary: "北見沢商工会議所は4月から、会員の中小企業を対象に情報セキュリティの相談窓口を設ける。地元のIT企業の技術者が無料で助言する。",
        body: &[
            "北見沢商工会議所は12日、会員の中小企業を対象にした情報セキュリティの相談窓口を4月1日に開設すると発表した。地元のIT企業3社の技術者が交代で常駐し、パソコンやネットワークの設定、従業員教育の進め方などについて無料で助言する。",
            "同会議所が昨年秋に会員企業を対象に行った調査では、回答した218社のうち、セキュリティ対策の担当者がいないと答えた企業が6割を超えた。「何から手を付ければよいか分からない」という声が多く、身近な相談先をつくることにした。",
            "窓口では、予算に限りのある企業でも取り組める対策として、ソフトウェアの更新を欠かさないこと、データのバックアップを社外にも保管すること、振込先の変更など重要な連絡は電話でも確かめることを勧める。",
            "会頭は「被害にあってからでは遅い。小さな会社こそ早めに相談してほしい」と話している。相談は電話や来所のほか、オンラインでも受け付ける。",
        ],
    },
    Article {
        path: "news/2026/0313-drift-ice-cruise.html",
        title: "流氷観光船が今季の運航終了　乗船客は前年比2割増",
        published: "2026-03-13T12:00:00+09:00",
        updated: None,
        author: "北見沢支局　工藤 大地",
        category: "経済",
        summary: "北見沢港を拠点とする流氷観光船「しろかもめ号」が12日、今季の運航を終えた。乗船客は約4万1千人で、前年を2割ほど上回った。",
        body: &[
            "北見沢港を拠点とする流氷観光船「しろかもめ号」が12日、今季の運航を終えた。運航会社によると、1月20日の就航から52日間で約4万1千人が乗船し、前年を2割ほど上回った。",
            "今季は2月上旬に流氷が接岸し、例年より見ごろが長く続いた。台湾や香港、東南アジアからの旅行客が増え、乗船客のおよそ4割を海外からの客が占めた。",
            "運航会社の担当者は「天候に恵まれ、欠航が少なかった。来季は多言語での船内案内をさらに充実させたい」と話している。",
        ],
    },
    Article {
        path: "news/2026/0314-seafood-bec-fraud.html",
        title: "取引先装うメールで3200万円詐取　北見沢の水産加工会社、ビジネスメール詐欺か",
        published: "2026-03-14T09:30:00+09:00",
        updated: None,
        author: "報道部　佐々木 遥",
        category: "事件・事故",
        summary: "北見沢市の水産加工会社が、海外の取引先を装ったメールにだまされ、約3200万円をだまし取られていたことが分かった。同社は13日、北見沢署に被害を届け出た。",
        body: &[
            "北見沢市の水産加工会社「北洋フーズ」が、海外の取引先を装ったメールにだまされ、約3200万円をだまし取られていたことが分かった。同社が13日、北見沢署に被害を届け出た。",
            "同社によると、2月中旬、長年取引のある東南アジアの輸入業者の担当者名で「監査のため、支払先の口座を変更した」とするメールが届いた。メールは過去のやり取りを引用した自然な文面で、送信元のアドレスも正規のものと1文字違うだけだった。経理担当者は指定された新しい口座に、代金を2回に分けて送金した。",
            "3月に入り、取引先から「代金が届いていない」と問い合わせがあって被害が発覚した。攻撃者は事前に取引先のメールアカウントに侵入し、やり取りを盗み見ていた可能性があるという。",
            "こうした手口は「ビジネスメール詐欺（BEC）」と呼ばれる。道内の企業の情報セキュリティ対策を支援する団体の担当者は「振込先の変更をメールだけで受け付けず、電話など別の手段で必ず確認する社内ルールを作ることが重要だ」と話している。",
        ],
    },
];

static HARBOR_ARTICLES: &[Article] = &[
    Article {
        path: "2026/03/11/fake-virus-alerts-retirees",
        title: "Fake virus alerts cost Aobadai retirees ¥46 million, police say",
        published: "2026-03-11T08:00:00+09:00",
        updated: None,
        author: "Emily Carter",
        category: "Cybersecurity",
        summary: "Scammers posing as tech support staff have tricked older residents of Aobadai into handing over remote control of their computers, police say.",
        body: &[
            "A wave of fake \"virus detected\" warnings has cost residents of Aobadai at least ¥46 million since January, police said Tuesday, as scammers posing as tech support staff increasingly target older computer users.",
            "The scam begins with a full-screen pop-up, often triggered by an advertisement on an otherwise legitimate website, that plays a loud alarm and shows a phone number for a \"support center.\" Callers are told to install remote-access software, after which the fake technicians claim to find malware and demand payment for a repair, typically in electronic gift cards or by bank transfer.",
            "In the most serious case, a man in his 70s lost ¥12 million after the callers logged into his online banking while he watched, telling him they were moving his savings \"to a safe account.\" Police said 31 cases had been reported in the city so far this year, more than double the figure for the same period last year.",
            "\"The alarm and the countdown timer are designed to make people panic,\" said an officer with the police cybercrime unit. \"No genuine security warning will ever ask you to call a phone number.\"",
            "Police advise anyone who sees such a warning to close the browser, or restart the computer if it will not close, and to talk to family members or the local consumer affairs center before calling any number shown on screen.",
        ],
    },
    Article {
        path: "2026/03/12/cherry-blossoms-early",
        title: "Cherry blossoms forecast to open early after a mild March",
        published: "2026-03-12T18:00:00+09:00",
        updated: None,
        author: "Kenji Morimoto",
        category: "Life",
        summary: "A run of unusually warm days means cherry trees in most of the country should bloom several days ahead of the average.",
        body: &[
            "Cherry trees across much of Japan are expected to bloom several days earlier than usual this spring, following a run of unusually warm weather in early March, according to the latest forecast from a private weather service.",
            "Blossoms are expected to open around March 19 in the southwest and around March 22 in the Harbor Ward area, with full bloom about a week later. Northern regions are likely to see flowers in late April or early May, close to the average.",
            "Park managers in Harbor Ward said they were preparing for large crowds and would again ask visitors to take their rubbish home and not to reserve picnic spots with unattended tarps.",
            "Forecasters cautioned that the storm expected this weekend could bring cold air in its wake, which may slow the opening of buds in some areas.",
        ],
    },
];

static YAMATE_ARTICLES: &[Article] = &[
    Article {
        path: "news/20260314-ferry-ddos.html",
        title: "フェリー予約サイトにDDoS攻撃　春休みの予約受け付け一時停止",
        published: "2026-03-14T12:10:00+09:00",
        updated: None,
        author: "社会部　石川 蓮",
        category: "社会",
        summary: "山手湾フェリーの予約サイトが13日夜から大量の通信を送りつけられるDDoS攻撃を受け、つながりにくい状態が続いている。",
        body: &[
            "山手湾フェリー（山手市）は14日、同社の予約サイトが13日夜から大量の通信を送りつけられる「DDoS攻撃」を受け、つながりにくい状態が続いていると発表した。春休みの繁忙期を前に、インターネットでの予約受け付けを一時停止している。",
            "同社によると、13日午後9時ごろから、海外を中心とする多数の機器から短時間に大量の接続要求が届き、サイトの表示に数分かかるようになった。ピーク時のアクセスは通常の約300倍に達したという。乗船券の予約データや顧客の個人情報が流出した形跡は見つかっていない。",
            "予約済みの乗船券はそのまま使える。同社は電話と窓口での予約を受け付けており、14日は午前中から窓口に家族連れの列ができた。",
            "同社は回線事業者と協力して不審な通信を遮断する対策を進めており、15日中の復旧を目指している。担当者は「ご迷惑をおかけして申し訳ない。春休みの旅行に影響が出ないよう全力で対応する」と話した。",
        ],
    },
    Article {
        path: "news/20260313-yamate-pay-charges.html",
        title: "スマホ決済アプリで不正チャージ相次ぐ　利用者42人、計380万円の被害",
        published: "2026-03-13T08:20:00+09:00",
        updated: None,
        author: "経済部　森 千尋",
        category: "経済",
        summary: "地域のスマホ決済アプリ「やまてPay」で、利用者の銀行口座から身に覚えのないチャージが繰り返される被害が相次いでいる。",
        body: &[
            "山手市の地域スマホ決済アプリ「やまてPay」で、利用者の銀行口座から身に覚えのないチャージ（入金）が繰り返される被害が相次いでいることが分かった。運営するやまてデジタルによると、12日までに利用者42人から計約380万円の被害の申し出があった。",
            "同社によると、不正なチャージは2月下旬から確認され始めた。何者かが他のサービスから流出したIDとパスワードを使って利用者になりすまし、登録された銀行口座からチャージしたうえで、加盟店でゲーム機や家電など換金しやすい商品を購入していたとみられる。",
            "アプリはこれまで、口座の登録時にSMSで届く確認コードを入力するだけで利用できた。同社は13日からチャージの上限額を1日3万円に引き下げ、ログインのたびに本人確認を求める仕組みを導入した。被害額は全額補償する方針だ。",
            "スマホ決済をめぐっては、口座との連携時の本人確認が甘いサービスが狙われる被害が各地で起きている。市消費生活センターは「心当たりのない入出金がないか、銀行口座とアプリの履歴をこまめに確かめてほしい」と呼びかけている。",
        ],
    },
    Article {
        path: "news/20260310-used-book-fair.html",
        title: "山手駅前で「春の古本まつり」　県内の古書店22店が出店",
        published: "2026-03-10T08:30:00+09:00",
        updated: None,
        author: "地域報道部　宮本 花",
        category: "地域",
        summary: "山手駅前の広場で14日から、県内の古書店が集まる「春の古本まつり」が開かれる。今年は過去最多の22店が出店する。",
        body: &[
            "山手駅前の広場で14日から、県内の古書店が集まる「春の古本まつり」が開かれる。今年は過去最多の22店が出店し、文庫本や絵本、古い地図や絵はがきなど約5万冊が並ぶ予定だ。",
            "会場では、傷んだ本の修理を体験できるコーナーや、子ども向けの読み聞かせ会も開かれる。実行委員長を務める古書店主は「思いがけない一冊との出会いを楽しんでほしい」と話している。",
            "まつりは16日まで。入場無料で、時間は午前10時から午後6時まで。雨天の場合は駅前の市民ホールに会場を移す。",
        ],
    },
];

const BROKEN_ROOT: &str = "/broken/";
pub(crate) const BROKEN_NAME: &str = "湾岸速報";
const BROKEN_MODIFIED: &str = "2026-03-14T07:00:00+09:00";

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("newsroom: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let Some(listen) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    let local = listener.local_addr()?;
    let origin = format!("http://{}", link_addr(local));
    let resources = build_site(&origin)?;
    print_banner(&origin, local, resources.len());
    axum::serve(listener, router(resources))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Returns `None` when help was requested.
fn parse_args() -> Result<Option<SocketAddr>> {
    let mut listen = DEFAULT_LISTEN.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                listen = args
                    .next()
                    .ok_or("--listen needs an address, e.g. --listen 127.0.0.1:8900")?;
            }
            other => match other.strip_prefix("--listen=") {
                Some(addr) => addr.clone_into(&mut listen),
                None => return Err(format!("unexpected argument {other:?}\n\n{USAGE}").into()),
            },
        }
    }
    let addr = listen
        .parse()
        .map_err(|err| format!("invalid --listen address {listen:?}: {err}"))?;
    Ok(Some(addr))
}

/// The address to put in links: a wildcard bind address is not something a
/// client can connect to, so links point at loopback instead.
fn link_addr(mut addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    addr
}

fn print_banner(origin: &str, local: SocketAddr, resource_count: usize) {
    println!("kawaraban sample newsroom (fictional outlets) on {origin}/");
    println!();
    let feeds = OUTLETS
        .iter()
        .map(|outlet| {
            let url = format!("{origin}{}{}", outlet.root, outlet.feed_file);
            let what = format!("{}, {}", outlet.format.describe(), outlet.charset.label());
            (url, outlet.name, what)
        })
        .chain(std::iter::once((
            format!("{origin}{BROKEN_ROOT}feed.xml"),
            BROKEN_NAME,
            "truncated on purpose".to_owned(),
        )))
        .collect::<Vec<_>>();
    let width = feeds.iter().map(|(url, ..)| url.len()).max().unwrap_or(0);
    for (url, name, what) in &feeds {
        println!("  {url:<width$}  {name} ({what})");
    }
    println!(
        "  plus article pages and outlet front pages; {resource_count} URLs in all, listed at {origin}/"
    );
    if !local.ip().is_loopback() {
        println!();
        println!(
            "warning: {local} is not a loopback address; the sample feeds are reachable from other hosts"
        );
    }
    println!();
    println!("Now start the daemon in another terminal:");
    println!("  cargo run --release -- serve --config config/offline.toml");
    if local.port() != CONFIG_PORT {
        println!(
            "(config/offline.toml expects port {CONFIG_PORT}; adjust its [[source]] urls for port {})",
            local.port()
        );
    }
    println!();
    println!("Requests are logged below. Press Ctrl-C to stop.");
}

async fn shutdown_signal() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        // Shutting down right away would make the demo unusable; keep serving
        // and let the user kill the process instead.
        eprintln!("newsroom: cannot listen for Ctrl-C ({err}); stop the process with a signal");
        std::future::pending::<()>().await;
    }
    println!("newsroom: shutting down");
}

// ---------------------------------------------------------------------------
// Building the site
// ---------------------------------------------------------------------------

/// An article with the values that depend on where the newsroom is served.
struct Entry {
    article: &'static Article,
    url: String,
    published: DateTime<FixedOffset>,
    updated: DateTime<FixedOffset>,
}

/// Everything is rendered once at startup: the content never changes while
/// the newsroom runs, which keeps `ETag`s stable and conditional GETs honest.
pub(crate) fn build_site(origin: &str) -> Result<Vec<Resource>> {
    let mut resources = Vec::new();
    let mut newest = parse_date(BROKEN_MODIFIED)?;
    for outlet in OUTLETS {
        let entries = entries(outlet, origin)?;
        let latest = entries
            .iter()
            .map(|entry| entry.updated)
            .max()
            .ok_or_else(|| format!("{} has no articles", outlet.name))?;
        newest = newest.max(latest);

        let feed = match outlet.format {
            FeedFormat::Rss1 => render_rss1(outlet, origin, &entries, latest),
            FeedFormat::Rss2 => render_rss2(outlet, origin, &entries, latest, true),
            FeedFormat::Rss2Excerpts => render_rss2(outlet, origin, &entries, latest, false),
            FeedFormat::Atom => render_atom(outlet, origin, &entries, latest),
            FeedFormat::JsonFeed => render_json_feed(outlet, origin, &entries)?,
        };
        resources.push(Resource::new(
            format!("{}{}", outlet.root, outlet.feed_file),
            &outlet.format.content_type(outlet.charset),
            outlet.charset.encode(&feed)?,
            latest,
        )?);

        let html_type = outlet.charset.html_content_type();
        resources.push(Resource::new(
            outlet.root.to_owned(),
            &html_type,
            outlet
                .charset
                .encode(&render_front_page(outlet, &entries))?,
            latest,
        )?);
        for entry in &entries {
            resources.push(Resource::new(
                format!("{}{}", outlet.root, entry.article.path),
                &html_type,
                outlet
                    .charset
                    .encode(&render_article_page(outlet, entry, &entries))?,
                entry.updated,
            )?);
        }
    }
    resources.push(Resource::new(
        format!("{BROKEN_ROOT}feed.xml"),
        "application/rss+xml; charset=UTF-8",
        render_broken_feed(origin).into_bytes(),
        parse_date(BROKEN_MODIFIED)?,
    )?);
    resources.push(Resource::new(
        "/".to_owned(),
        "text/html; charset=UTF-8",
        render_index(origin).into_bytes(),
        newest,
    )?);

    let mut seen = HashSet::new();
    if let Some(dup) = resources.iter().find(|r| !seen.insert(r.path.as_str())) {
        return Err(format!("two resources share the path {}", dup.path).into());
    }
    Ok(resources)
}

fn entries(outlet: &'static Outlet, origin: &str) -> Result<Vec<Entry>> {
    let mut entries = outlet
        .articles
        .iter()
        .map(|article| {
            let published = parse_date(article.published)?;
            let updated = article.updated.map(parse_date).transpose()?;
            Ok(Entry {
                article,
                url: format!("{origin}{}{}", outlet.root, article.path),
                published,
                updated: updated.unwrap_or(published),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Real feeds list the newest story first.
    entries.sort_by_key(|entry| Reverse(entry.published));
    Ok(entries)
}

fn parse_date(text: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|err| format!("bad sample date {text:?}: {err}").into())
}

impl FeedFormat {
    fn describe(self) -> &'static str {
        match self {
            FeedFormat::Rss1 => "RSS 1.0",
            FeedFormat::Rss2 => "RSS 2.0",
            FeedFormat::Rss2Excerpts => "RSS 2.0, excerpts only",
            FeedFormat::Atom => "Atom 1.0",
            FeedFormat::JsonFeed => "JSON Feed 1.1",
        }
    }

    fn mime_type(self) -> &'static str {
        match self {
            FeedFormat::Rss1 => "application/rdf+xml",
            FeedFormat::Rss2 | FeedFormat::Rss2Excerpts => "application/rss+xml",
            FeedFormat::Atom => "application/atom+xml",
            FeedFormat::JsonFeed => "application/feed+json",
        }
    }

    fn content_type(self, charset: Charset) -> String {
        match self {
            // Many older Japanese CMSs leave the charset out of the header, so
            // the reader has to honour the XML declaration instead.
            FeedFormat::Rss1 => self.mime_type().to_owned(),
            _ => format!("{}; charset={}", self.mime_type(), charset.label()),
        }
    }
}

impl Charset {
    fn label(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::ShiftJis => "Shift_JIS",
            Charset::EucJp => "EUC-JP",
        }
    }

    fn html_content_type(self) -> String {
        match self {
            // As with the feed, leave the <meta charset> as the only hint.
            Charset::ShiftJis => "text/html".to_owned(),
            _ => format!("text/html; charset={}", self.label()),
        }
    }

    /// Fails instead of letting `encoding_rs` substitute numeric character
    /// references, so an edit to the sample text that the legacy encoding
    /// cannot represent is caught at startup.
    fn encode(self, text: &str) -> Result<Vec<u8>> {
        let encoding = match self {
            Charset::Utf8 => return Ok(text.as_bytes().to_vec()),
            // WHATWG Shift_JIS is really Windows-31J (CP932), so ①, ㈱ and 髙
            // encode fine.
            Charset::ShiftJis => encoding_rs::SHIFT_JIS,
            Charset::EucJp => encoding_rs::EUC_JP,
        };
        let (bytes, _, unmappable) = encoding.encode(text);
        if unmappable {
            let culprit = text
                .chars()
                .find(|c| encoding.encode(c.encode_utf8(&mut [0; 4])).2)
                .unwrap_or('?');
            return Err(format!(
                "sample text contains {culprit:?} (U+{:04X}), which {} cannot represent",
                u32::from(culprit),
                self.label()
            )
            .into());
        }
        Ok(bytes.into_owned())
    }
}

// ---------------------------------------------------------------------------
// Feeds
// ---------------------------------------------------------------------------

fn render_rss1(
    outlet: &Outlet,
    origin: &str,
    entries: &[Entry],
    latest: DateTime<FixedOffset>,
) -> String {
    let home = format!("{origin}{}", outlet.root);
    let feed_url = format!("{home}{}", outlet.feed_file);
    let seq = entries
        .iter()
        .map(|entry| format!("        <rdf:li rdf:resource=\"{}\"/>\n", esc(&entry.url)))
        .collect::<String>();
    let items = entries
        .iter()
        .map(|entry| {
            let article = entry.article;
            format!(
                r#"  <item rdf:about="{url}">
    <title>{title}</title>
    <link>{url}</link>
    <description>{summary}</description>
    <dc:subject>{category}</dc:subject>
    <dc:creator>{author}</dc:creator>
    <dc:date>{date}</dc:date>
  </item>
"#,
                url = esc(&entry.url),
                title = esc(article.title),
                summary = esc(article.summary),
                category = esc(article.category),
                author = esc(article.author),
                date = entry.published.to_rfc3339(),
            )
        })
        .collect::<String>();
    format!(
        r#"<?xml version="1.0" encoding="{charset}"?>
<rdf:RDF
  xmlns="http://purl.org/rss/1.0/"
  xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xml:lang="{lang}">
  <channel rdf:about="{feed_url}">
    <title>{name}</title>
    <link>{home}</link>
    <description>{tagline}</description>
    <dc:language>{lang}</dc:language>
    <dc:publisher>{name}</dc:publisher>
    <dc:date>{date}</dc:date>
    <items>
      <rdf:Seq>
{seq}      </rdf:Seq>
    </items>
  </channel>
{items}</rdf:RDF>
"#,
        charset = outlet.charset.label(),
        lang = outlet.lang,
        feed_url = esc(&feed_url),
        name = esc(outlet.name),
        home = esc(&home),
        tagline = esc(outlet.tagline),
        date = latest.to_rfc3339(),
    )
}

fn render_rss2(
    outlet: &Outlet,
    origin: &str,
    entries: &[Entry],
    latest: DateTime<FixedOffset>,
    full_text: bool,
) -> String {
    let home = format!("{origin}{}", outlet.root);
    let feed_url = format!("{home}{}", outlet.feed_file);
    let items = entries
        .iter()
        .map(|entry| {
            let article = entry.article;
            let (description, content) = if full_text {
                (
                    article.summary.to_owned(),
                    format!(
                        "      <content:encoded><![CDATA[{}]]></content:encoded>\n",
                        body_html(article)
                    ),
                )
            } else {
                (lead_excerpt(article), String::new())
            };
            format!(
                r#"    <item>
      <title>{title}</title>
      <link>{url}</link>
      <guid isPermaLink="true">{url}</guid>
      <pubDate>{date}</pubDate>
      <category>{category}</category>
      <dc:creator>{author}</dc:creator>
      <description>{description}</description>
{content}    </item>
"#,
                title = esc(article.title),
                url = esc(&entry.url),
                date = entry.published.to_rfc2822(),
                category = esc(article.category),
                author = esc(article.author),
                description = esc(&description),
                content = content,
            )
        })
        .collect::<String>();
    format!(
        r#"<?xml version="1.0" encoding="{charset}"?>
<rss version="2.0"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{name}</title>
    <link>{home}</link>
    <description>{tagline}</description>
    <language>{lang}</language>
    <lastBuildDate>{date}</lastBuildDate>
    <atom:link href="{feed_url}" rel="self" type="application/rss+xml"/>
    <ttl>15</ttl>
{items}  </channel>
</rss>
"#,
        charset = outlet.charset.label(),
        name = esc(outlet.name),
        home = esc(&home),
        tagline = esc(outlet.tagline),
        lang = outlet.lang,
        date = latest.to_rfc2822(),
        feed_url = esc(&feed_url),
    )
}

/// Links are relative to the feed's `xml:base`, as some CMSs emit them, so a
/// reader that ignores `xml:base` ends up with broken links.
fn render_atom(
    outlet: &Outlet,
    origin: &str,
    entries: &[Entry],
    latest: DateTime<FixedOffset>,
) -> String {
    let authority = format!("{}.example", outlet.root.trim_matches('/'));
    let items = entries
        .iter()
        .map(|entry| {
            let article = entry.article;
            format!(
                r#"  <entry>
    <id>tag:{authority},2026:{path}</id>
    <title>{title}</title>
    <link rel="alternate" type="text/html" href="{path}"/>
    <published>{published}</published>
    <updated>{updated}</updated>
    <author><name>{author}</name></author>
    <category term="{category}"/>
    <summary>{summary}</summary>
    <content type="html">{html}</content>
  </entry>
"#,
                path = esc(article.path),
                title = esc(article.title),
                published = entry.published.to_rfc3339(),
                updated = entry.updated.to_rfc3339(),
                author = esc(article.author),
                category = esc(article.category),
                summary = esc(article.summary),
                html = esc(&body_html(article)),
            )
        })
        .collect::<String>();
    format!(
        r#"<?xml version="1.0" encoding="{charset}"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}" xml:base="{base}">
  <id>tag:{authority},2026:feed</id>
  <title>{name}</title>
  <subtitle>{tagline}</subtitle>
  <updated>{updated}</updated>
  <link rel="self" type="application/atom+xml" href="{feed_file}"/>
  <link rel="alternate" type="text/html" href="./"/>
{items}</feed>
"#,
        charset = outlet.charset.label(),
        lang = outlet.lang,
        base = esc(&format!("{origin}{}", outlet.root)),
        name = esc(outlet.name),
        tagline = esc(outlet.tagline),
        updated = latest.to_rfc3339(),
        feed_file = esc(outlet.feed_file),
    )
}

fn render_json_feed(outlet: &Outlet, origin: &str, entries: &[Entry]) -> Result<String> {
    let home = format!("{origin}{}", outlet.root);
    let items = entries
        .iter()
        .map(|entry| {
            let article = entry.article;
            let mut item = json!({
                "id": entry.url,
                "url": entry.url,
                "title": article.title,
                "summary": article.summary,
                "content_html": body_html(article),
                "date_published": entry.published.to_rfc3339(),
                "authors": [{ "name": article.author }],
                "tags": [article.category],
            });
            if article.updated.is_some() {
                item["date_modified"] = json!(entry.updated.to_rfc3339());
            }
            item
        })
        .collect::<Vec<_>>();
    let feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": outlet.name,
        "home_page_url": home,
        "feed_url": format!("{home}{}", outlet.feed_file),
        "description": outlet.tagline,
        "language": outlet.lang,
        "authors": [{ "name": outlet.name, "url": home }],
        "items": items,
    });
    Ok(serde_json::to_string_pretty(&feed)? + "\n")
}

/// Cut off mid-item, as when an upstream dies halfway through a response.
fn render_broken_feed(origin: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{BROKEN_NAME}</title>
    <link>{origin}{BROKEN_ROOT}</link>
    <description>湾岸地域の速報ニュース</description>
    <language>ja</language>
    <item>
      <title>港湾物流システムに障害、コンテナ搬出に遅れ</title>
      <link>{origin}{BROKEN_ROOT}news/20260314-port-system.html</link>
      <pubDate>Sat, 14 Mar 2026 07:00:00 +0900</pubDate>
      <description>湾岸地区の港湾物流システムで14日未明から障害が発生し、コンテナの搬"#
    )
}

/// The opening words of the article and an ellipsis, as CMSs that keep their text
/// for their own pages put in the feed.
fn lead_excerpt(article: &Article) -> String {
    const CHARS: usize = 60;
    let lead = article.body.first().copied().unwrap_or(article.summary);
    let cut: String = lead.chars().take(CHARS).collect();
    format!("{cut}…")
}

fn body_html(article: &Article) -> String {
    article
        .body
        .iter()
        .map(|paragraph| format!("<p>{}</p>\n", esc(paragraph)))
        .collect()
}

// ---------------------------------------------------------------------------
// HTML pages
// ---------------------------------------------------------------------------

const STYLE: &str = "body{margin:0;font-family:sans-serif;line-height:1.8;color:#222}\
.masthead{background:#1d3557;color:#fff;padding:.8em 1.5em}\
.masthead a{color:#fff;text-decoration:none}\
.logo{font-size:1.6em;font-weight:bold}\
nav a{margin-right:1em;font-size:.9em}\
main{max-width:42em;margin:1.5em auto;padding:0 1em}\
.byline{color:#666;font-size:.9em}\
aside{border-top:1px solid #ccc;margin-top:2em;font-size:.9em}\
footer{background:#eee;color:#555;font-size:.8em;padding:1em 1.5em}";

fn render_page(outlet: &Outlet, title: &str, main: &str) -> String {
    let nav = outlet
        .nav
        .iter()
        .map(|label| format!("<a href=\"{}\">{}</a>", outlet.root, esc(label)))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="{charset}">
<title>{title}</title>
<link rel="alternate" type="{feed_type}" title="{name}" href="{root}{feed_file}">
<style>{STYLE}</style>
</head>
<body>
<header class="masthead">
<a class="logo" href="{root}">{name}</a>
<nav>
{nav}
</nav>
</header>
<main>
{main}</main>
<footer>
<p>{footer}</p>
</footer>
</body>
</html>
"#,
        lang = outlet.lang,
        charset = outlet.charset.label(),
        title = esc(title),
        feed_type = outlet.format.mime_type(),
        name = esc(outlet.name),
        root = outlet.root,
        feed_file = outlet.feed_file,
        footer = esc(outlet.footer),
    )
}

fn render_article_page(outlet: &Outlet, entry: &Entry, entries: &[Entry]) -> String {
    let article = entry.article;
    let updated = if entry.updated == entry.published {
        String::new()
    } else {
        format!(
            "（{}: <time datetime=\"{}\">{}</time>）",
            outlet.updated_label,
            entry.updated.to_rfc3339(),
            entry.updated.format(outlet.date_format)
        )
    };
    // Sidebar links give full-text extraction something to leave out.
    let related = entries
        .iter()
        .filter(|other| other.article.path != article.path)
        .map(|other| {
            format!(
                "<li><a href=\"{}{}\">{}</a></li>\n",
                outlet.root,
                esc(other.article.path),
                esc(other.article.title)
            )
        })
        .collect::<String>();
    let main = format!(
        r#"<article>
<h1>{title}</h1>
<p class="byline"><time datetime="{datetime}">{date}</time>{updated}　{author}</p>
{body}</article>
<aside>
<h2>{related_label}</h2>
<ul>
{related}</ul>
</aside>
"#,
        title = esc(article.title),
        datetime = entry.published.to_rfc3339(),
        date = entry.published.format(outlet.date_format),
        author = esc(article.author),
        body = body_html(article),
        related_label = esc(outlet.related_label),
    );
    render_page(
        outlet,
        &format!("{} | {}", article.title, outlet.name),
        &main,
    )
}

fn render_front_page(outlet: &Outlet, entries: &[Entry]) -> String {
    let list = entries
        .iter()
        .map(|entry| {
            format!(
                "<li><a href=\"{}{}\">{}</a> <span class=\"byline\">{}</span>\n<p>{}</p></li>\n",
                outlet.root,
                esc(entry.article.path),
                esc(entry.article.title),
                entry.published.format(outlet.date_format),
                esc(entry.article.summary)
            )
        })
        .collect::<String>();
    let main = format!("<h1>{}</h1>\n<ul>\n{list}</ul>\n", esc(outlet.tagline));
    render_page(outlet, outlet.name, &main)
}

fn render_index(origin: &str) -> String {
    let outlets = OUTLETS
        .iter()
        .map(|outlet| {
            format!(
                "<li><a href=\"{root}\">{name}</a>: {format}, {charset} \
                 (<a href=\"{root}{feed}\">{origin}{root}{feed}</a>)</li>\n",
                root = outlet.root,
                name = esc(outlet.name),
                format = outlet.format.describe(),
                charset = outlet.charset.label(),
                feed = outlet.feed_file,
            )
        })
        .collect::<String>();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>kawaraban sample newsroom</title>
</head>
<body>
<h1>kawaraban sample newsroom</h1>
<p>Fictional outlets for the offline demo. Run the daemon with
<code>cargo run --release -- serve --config config/offline.toml</code>.</p>
<ul>
{outlets}<li>{BROKEN_NAME}: truncated RSS 2.0, broken on purpose
(<a href="{BROKEN_ROOT}feed.xml">{origin}{BROKEN_ROOT}feed.xml</a>)</li>
</ul>
</body>
</html>
"#
    )
}

/// Escapes text for XML and HTML alike (`&#39;` rather than `&apos;`, which
/// HTML 4 lacks).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

pub(crate) struct Resource {
    path: String,
    content_type: HeaderValue,
    last_modified: DateTime<Utc>,
    last_modified_header: HeaderValue,
    identity: Variant,
    gzip: Variant,
}

struct Variant {
    body: Bytes,
    etag: HeaderValue,
}

impl Resource {
    fn new(
        path: String,
        content_type: &str,
        body: Vec<u8>,
        modified: DateTime<FixedOffset>,
    ) -> Result<Self> {
        let hash = fnv1a(&body);
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&body)?;
        let gzipped = encoder.finish()?;
        let last_modified = modified.with_timezone(&Utc);
        let http_date = last_modified
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        Ok(Resource {
            path,
            content_type: HeaderValue::from_str(content_type)?,
            last_modified,
            last_modified_header: HeaderValue::from_str(&http_date)?,
            identity: Variant {
                body: Bytes::from(body),
                etag: HeaderValue::from_str(&format!("\"{hash:016x}\""))?,
            },
            // A distinct ETag per encoding, as Apache's mod_deflate does, so a
            // cache never confuses the compressed bytes with the plain ones.
            gzip: Variant {
                body: Bytes::from(gzipped),
                etag: HeaderValue::from_str(&format!("\"{hash:016x}-gzip\""))?,
            },
        })
    }
}

/// FNV-1a rather than `DefaultHasher`, whose output may change between Rust
/// releases: stable `ETag`s let the daemon keep getting 304s across restarts of
/// the newsroom.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One explicit route per resource; axum's `get` also answers HEAD.
pub(crate) fn router(resources: Vec<Resource>) -> Router {
    let mut router = Router::new();
    for resource in resources {
        let path = resource.path.clone();
        let resource = Arc::new(resource);
        router = router.route(
            &path,
            get(move |method: Method, headers: HeaderMap| {
                ready(respond(&resource, &method, &headers))
            }),
        );
    }
    router.fallback(not_found)
}

fn respond(resource: &Resource, method: &Method, headers: &HeaderMap) -> Response {
    let gzip = accepts_gzip(headers);
    let variant = if gzip {
        &resource.gzip
    } else {
        &resource.identity
    };
    let mut response = if is_not_modified(resource, &variant.etag, headers) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::from(variant.body.clone()));
        let response_headers = response.headers_mut();
        response_headers.insert(CONTENT_TYPE, resource.content_type.clone());
        if gzip {
            response_headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let response_headers = response.headers_mut();
    response_headers.insert(ETAG, variant.etag.clone());
    response_headers.insert(LAST_MODIFIED, resource.last_modified_header.clone());
    response_headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    // Make caches revalidate every time, so the demo shows conditional GETs.
    response_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));

    let note = match (response.status(), gzip) {
        (StatusCode::NOT_MODIFIED, _) => String::new(),
        (_, true) => format!(" ({} bytes gzip)", variant.body.len()),
        (_, false) => format!(" ({} bytes)", variant.body.len()),
    };
    log_request(method, &resource.path, response.status(), &note);
    response
}

async fn not_found(method: Method, uri: Uri) -> (StatusCode, &'static str) {
    log_request(&method, uri.path(), StatusCode::NOT_FOUND, "");
    (StatusCode::NOT_FOUND, "not found\n")
}

fn log_request(method: &Method, path: &str, status: StatusCode, note: &str) {
    println!(
        "{} {} {method} {path}{note}",
        Local::now().format("%H:%M:%S"),
        status.as_u16()
    );
}

fn is_not_modified(resource: &Resource, etag: &HeaderValue, headers: &HeaderMap) -> bool {
    // RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is sent.
    if let Some(candidates) = headers.get(IF_NONE_MATCH) {
        return etag_matches(candidates, etag);
    }
    headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| DateTime::parse_from_rfc2822(value).ok())
        .is_some_and(|since| resource.last_modified <= since)
}

/// Weak comparison, which RFC 9110 prescribes for If-None-Match.
fn etag_matches(candidates: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(candidates) = candidates.to_str() else {
        return false;
    };
    candidates.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == etag.as_bytes()
    })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut params = coding.split(';').map(str::trim);
            params
                .next()
                .is_some_and(|name| name.eq_ignore_ascii_case("gzip"))
                && !params
                    .filter_map(|param| param.strip_prefix("q="))
                    .any(|q| matches!(q.parse::<f32>(), Ok(q) if q <= 0.0))
        })
}
