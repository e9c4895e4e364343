//! Accounts: the organisation's domains, users with their role, mailbox aliases and
//! officer domains, and groups.
//!
//! These rows are authoritative (not derived from volumes). Names, addresses and domains
//! are stored lowercased and trimmed; validating them (syntax, password strength, which
//! role may have mailboxes) is the caller's job (`coffer-accounts`), so
//! the command line and the HTTP API apply the same rules. An officer whose domains hold
//! [`ALL_DOMAINS`] sees every domain. Groups grant no access: they organise users and
//! carry an archiving rule.
//!
//! Users are never deleted (audit entries name them); they are disabled, which also
//! revokes their sessions.

use std::collections::BTreeMap;

use coffer_model::Role;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Catalog, Error, KEYS_PER_LOOKUP, Result, in_list};

/// The officer domain value meaning "every domain".
pub const ALL_DOMAINS: &str = "*";

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Mailbox addresses the user owns (aliases included).
    pub mailboxes: Vec<String>,
    /// Officer scope domains ([`ALL_DOMAINS`] for all).
    pub domains: Vec<String>,
    /// Groups to join (created when missing).
    pub groups: Vec<String>,
    /// Archiving rule (`internal`, `external`, `both`, `none`).
    pub archiving_rule: String,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New Argon2id PHC string.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New mailbox list (replaces the old one).
    pub mailboxes: Option<Vec<String>>,
    /// New domain list (replaces the old one).
    pub domains: Option<Vec<String>>,
    /// New group list (replaces the old one; groups created when missing).
    pub groups: Option<Vec<String>>,
    /// Disable or re-enable (disabling revokes every session).
    pub disabled: Option<bool>,
    /// New archiving rule.
    pub archiving_rule: Option<String>,
}

/// A user as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRecord {
    /// Internal id (what logs carry instead of the name).
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Archiving rule.
    pub archiving_rule: String,
    /// Mailbox addresses, sorted.
    pub mailboxes: Vec<String>,
    /// Officer domains, sorted.
    pub domains: Vec<String>,
    /// Group names, sorted.
    pub groups: Vec<String>,
}

/// What a login needs: the id, the hash to verify, and whether the account may log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User id.
    pub id: i64,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
}

/// A group with its members.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupRecord {
    /// Group name.
    pub name: String,
    /// Archiving rule.
    pub archiving_rule: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Member usernames, sorted.
    pub members: Vec<String>,
}

/// The archiving rules stored for the owner of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerRules {
    /// The user's rule.
    pub user: String,
    /// The rules of the user's groups.
    pub groups: Vec<String>,
}

/// One of the organisation's domains.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DomainRecord {
    /// The domain.
    pub name: String,
    /// When it was added, Unix seconds.
    pub created: i64,
    /// Archived mailboxes in that domain.
    pub mailboxes: u64,
}

fn norm(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

fn norm_list(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .map(|s| norm(s))
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn parse_role(s: &str) -> Result<Role> {
    s.parse()
        .map_err(|e: String| Error::Invalid(format!("stored role: {e}")))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Picks one list of a user (mailboxes, domains, groups).
type ListField = fn(&mut UserRecord) -> &mut Vec<String>;

const USER_COLUMNS: &str =
    "SELECT id, username, role, created, disabled, archiving_rule FROM users";

impl Catalog {
    /// Creates a user; [`Error::Conflict`] when the username is taken.
    pub async fn create_user(&self, new: &NewUser, now: i64) -> Result<UserRecord> {
        let username = norm(&new.username);
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created, disabled, archiving_rule) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
        )
        .bind(username.clone())
        .bind(new.password_hash.clone())
        .bind(new.role.as_str())
        .bind(now)
        .bind(norm(&new.archiving_rule))
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("user {username:?} exists")));
            }
            Err(e) => return Err(e.into()),
        };
        set_mailboxes(&mut tx, id, &norm_list(&new.mailboxes)).await?;
        set_domains(&mut tx, id, &norm_list(&new.domains)).await?;
        set_groups(&mut tx, id, &norm_list(&new.groups), now).await?;
        tx.commit().await?;
        self.user_by_id(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {username:?} vanished")))
    }

    /// A user by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(concat_user("WHERE username = $1"))
            .bind(norm(username))
            .fetch_optional(self.pool())
            .await?;
        self.finish_user(row).await
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>> {
        let row = sqlx::query(concat_user("WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        self.finish_user(row).await
    }

    async fn finish_user(&self, row: Option<AnyRow>) -> Result<Option<UserRecord>> {
        let Some(row) = row else { return Ok(None) };
        let mut user = decode_user(&row)?;
        let id = user.id;
        user.mailboxes = strings(
            sqlx::query("SELECT address FROM user_mailboxes WHERE user_id = $1 ORDER BY address")
                .bind(id)
                .fetch_all(self.pool())
                .await?,
        )?;
        user.domains = strings(
            sqlx::query("SELECT domain FROM user_domains WHERE user_id = $1 ORDER BY domain")
                .bind(id)
                .fetch_all(self.pool())
                .await?,
        )?;
        user.groups = strings(
            sqlx::query(
                "SELECT g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id \
                 WHERE m.user_id = $1 ORDER BY g.name",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?,
        )?;
        Ok(Some(user))
    }

    /// The id of a user.
    pub async fn user_id(&self, username: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT id FROM users WHERE username = $1")
            .bind(norm(username))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok(r.try_get::<i64, _>(0)?)).transpose()
    }

    /// The credentials of a user, for a login.
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let row =
            sqlx::query("SELECT id, password_hash, role, disabled FROM users WHERE username = $1")
                .bind(norm(username))
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Credentials {
            id: row.try_get(0)?,
            password_hash: row.try_get(1)?,
            role: parse_role(&row.try_get::<String, _>(2)?)?,
            disabled: row.try_get::<i64, _>(3)? != 0,
        }))
    }

    /// Every user, by username, with mailboxes, domains and groups.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(concat_user("ORDER BY username"))
            .fetch_all(self.pool())
            .await?;
        let mut users: Vec<UserRecord> = rows.iter().map(decode_user).collect::<Result<_>>()?;
        let mut index: BTreeMap<i64, usize> = BTreeMap::new();
        for (i, u) in users.iter().enumerate() {
            index.insert(u.id, i);
        }
        let lists: [(&str, ListField); 3] = [
            (
                "SELECT user_id, address FROM user_mailboxes ORDER BY address",
                |u| &mut u.mailboxes,
            ),
            (
                "SELECT user_id, domain FROM user_domains ORDER BY domain",
                |u| &mut u.domains,
            ),
            (
                "SELECT m.user_id, g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id ORDER BY g.name",
                |u| &mut u.groups,
            ),
        ];
        for (sql, field) in lists {
            for row in sqlx::query(sql).fetch_all(self.pool()).await? {
                let id: i64 = row.try_get(0)?;
                if let Some(&i) = index.get(&id) {
                    field(&mut users[i]).push(row.try_get(1)?);
                }
            }
        }
        Ok(users)
    }

    /// Whether any enabled administrator exists.
    pub async fn has_admin(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Applies changes to a user; [`Error::NotFound`] when there is no such user.
    pub async fn update_user(
        &self,
        username: &str,
        update: &UserUpdate,
        now: i64,
    ) -> Result<UserRecord> {
        let username = norm(username);
        // Looked up before the transaction: users are never deleted, and on SQLite a
        // transaction that reads before it writes can fail to upgrade its lock.
        let Some(id) = self.user_id(&username).await? else {
            return Err(Error::NotFound(format!("no user {username:?}")));
        };
        let mut tx = self.pool().begin().await?;
        if let Some(hash) = &update.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash.clone())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(role) = update.role {
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                .bind(role.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(rule) = &update.archiving_rule {
            sqlx::query("UPDATE users SET archiving_rule = $1 WHERE id = $2")
                .bind(norm(rule))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(disabled) = update.disabled {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(i64::from(disabled))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // A changed password, role or state ends every open session of the user.
        if update.password_hash.is_some() || update.role.is_some() || update.disabled == Some(true)
        {
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(list) = &update.mailboxes {
            sqlx::query("DELETE FROM user_mailboxes WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            set_mailboxes(&mut tx, id, &norm_list(list)).await?;
        }
        if let Some(list) = &update.domains {
            sqlx::query("DELETE FROM user_domains WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            set_domains(&mut tx, id, &norm_list(list)).await?;
        }
        if let Some(list) = &update.groups {
            sqlx::query("DELETE FROM group_members WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            set_groups(&mut tx, id, &norm_list(list), now).await?;
        }
        tx.commit().await?;
        self.user_by_id(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {username:?}")))
    }

    /// Creates a group with these members; [`Error::Conflict`] when the name is taken,
    /// [`Error::NotFound`] when a member does not exist.
    pub async fn create_group(
        &self,
        name: &str,
        archiving_rule: &str,
        members: &[String],
        now: i64,
    ) -> Result<GroupRecord> {
        let name = norm(name);
        let mut member_ids = Vec::new();
        for member in norm_list(members) {
            match self.user_id(&member).await? {
                Some(id) => member_ids.push(id),
                None => return Err(Error::NotFound(format!("no user {member:?}"))),
            }
        }
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO user_groups (name, archiving_rule, created) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name.clone())
        .bind(norm(archiving_rule))
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let group_id: i64 = match inserted {
            Ok(row) => row.try_get(0)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("group {name:?} exists")));
            }
            Err(e) => return Err(e.into()),
        };
        for user_id in member_ids {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.list_groups()
            .await?
            .into_iter()
            .find(|g| g.name == name)
            .ok_or_else(|| Error::NotFound(format!("group {name:?} vanished")))
    }

    /// Every group with its members, by name.
    pub async fn list_groups(&self) -> Result<Vec<GroupRecord>> {
        let rows =
            sqlx::query("SELECT id, name, archiving_rule, created FROM user_groups ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        let mut groups = Vec::with_capacity(rows.len());
        let mut index: BTreeMap<i64, usize> = BTreeMap::new();
        for row in rows {
            index.insert(row.try_get(0)?, groups.len());
            groups.push(GroupRecord {
                name: row.try_get(1)?,
                archiving_rule: row.try_get(2)?,
                created: row.try_get(3)?,
                members: Vec::new(),
            });
        }
        let members = sqlx::query(
            "SELECT m.group_id, u.username FROM group_members m JOIN users u ON u.id = m.user_id ORDER BY u.username",
        )
        .fetch_all(self.pool())
        .await?;
        for row in members {
            let group: i64 = row.try_get(0)?;
            if let Some(&i) = index.get(&group) {
                groups[i].members.push(row.try_get(1)?);
            }
        }
        Ok(groups)
    }

    /// Sets a group's archiving rule; false when there is no such group.
    pub async fn set_group_rule(&self, name: &str, rule: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE user_groups SET archiving_rule = $1 WHERE name = $2")
            .bind(norm(rule))
            .bind(norm(name))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a group (its members stay); false when there is none by that name.
    pub async fn delete_group(&self, name: &str) -> Result<bool> {
        let name = norm(name);
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM group_members WHERE group_id IN (SELECT id FROM user_groups WHERE name = $1)")
            .bind(name.clone())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM user_groups WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The archiving rules configured for the owners of these mailboxes: for each
    /// mailbox some user owns, the user's rule and the rules of the user's groups (raw
    /// stored values; `both` is the default). Mailboxes no user owns are absent.
    pub async fn archiving_rules(
        &self,
        mailboxes: &[String],
    ) -> Result<BTreeMap<String, OwnerRules>> {
        let mut out: BTreeMap<String, OwnerRules> = BTreeMap::new();
        let wanted = norm_list(mailboxes);
        for chunk in wanted.chunks(KEYS_PER_LOOKUP) {
            let sql = format!(
                "SELECT um.address, u.archiving_rule, g.archiving_rule FROM user_mailboxes um \
                 JOIN users u ON u.id = um.user_id \
                 LEFT JOIN group_members gm ON gm.user_id = u.id \
                 LEFT JOIN user_groups g ON g.id = gm.group_id \
                 WHERE um.address IN ({})",
                in_list(self.backend, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q.bind(m.clone());
            }
            for row in q.fetch_all(self.pool()).await? {
                let address: String = row.try_get(0)?;
                let entry = out.entry(address).or_default();
                entry.user = row.try_get(1)?;
                if let Some(group) = row.try_get::<Option<String>, _>(2)? {
                    entry.groups.push(group);
                }
            }
        }
        Ok(out)
    }

    /// Adds a domain; [`Error::Conflict`] when it exists.
    pub async fn add_domain(&self, name: &str, now: i64) -> Result<DomainRecord> {
        let name = norm(name);
        let inserted = sqlx::query("INSERT INTO domains (name, created) VALUES ($1, $2)")
            .bind(name.clone())
            .bind(now)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("domain {name:?} exists")));
            }
            Err(e) => return Err(e.into()),
        }
        self.list_domains()
            .await?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::NotFound(format!("domain {name:?} vanished")))
    }

    /// The organisation's domains with their archived mailbox counts.
    pub async fn list_domains(&self) -> Result<Vec<DomainRecord>> {
        let rows = sqlx::query(
            "SELECT d.name, d.created, (SELECT COUNT(*) FROM mailboxes m WHERE m.domain = d.name) \
             FROM domains d ORDER BY d.name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DomainRecord {
                    name: r.try_get(0)?,
                    created: r.try_get(1)?,
                    mailboxes: crate::to_u64(r.try_get::<i64, _>(2)?)?,
                })
            })
            .collect()
    }

    /// Removes a domain from the list (archived mail is untouched); false when absent.
    pub async fn delete_domain(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM domains WHERE name = $1")
            .bind(norm(name))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn concat_user(tail: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("{USER_COLUMNS} {tail}"))
}

fn decode_user(row: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        role: parse_role(&row.try_get::<String, _>(2)?)?,
        created: row.try_get(3)?,
        disabled: row.try_get::<i64, _>(4)? != 0,
        archiving_rule: row.try_get(5)?,
        mailboxes: Vec::new(),
        domains: Vec::new(),
        groups: Vec::new(),
    })
}

fn strings(rows: Vec<AnyRow>) -> Result<Vec<String>> {
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>(0)?))
        .collect()
}

async fn set_mailboxes(tx: &mut Transaction<'_, Any>, id: i64, list: &[String]) -> Result<()> {
    for address in list {
        sqlx::query(
            "INSERT INTO user_mailboxes (user_id, address) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(address.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn set_domains(tx: &mut Transaction<'_, Any>, id: i64, list: &[String]) -> Result<()> {
    for domain in list {
        sqlx::query(
            "INSERT INTO user_domains (user_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(domain.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn set_groups(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    list: &[String],
    now: i64,
) -> Result<()> {
    for name in list {
        sqlx::query(
            "INSERT INTO user_groups (name, archiving_rule, created) VALUES ($1, 'both', $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id) \
             SELECT id, $1 FROM user_groups WHERE name = $2 ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name.clone())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
